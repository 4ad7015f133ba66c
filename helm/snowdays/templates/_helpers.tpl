{{- define "snowdays.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "snowdays.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* labels of a component: include "snowdays.labels" (list . "watcher") */}}
{{- define "snowdays.labels" -}}
{{- $ := index . 0 -}}
{{ include "snowdays.selectorLabels" $ }}
app.kubernetes.io/component: {{ index . 1 }}
app.kubernetes.io/version: {{ $.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $.Chart.Name $.Chart.Version }}
{{- end -}}

{{- define "snowdays.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "snowdays.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "snowdays.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "snowdays.config" -}}
{{- printf "%s-config" (include "snowdays.fullname" .) -}}
{{- end -}}

{{- define "snowdays.daskCluster" -}}
{{- printf "%s-dask" (include "snowdays.fullname" .) -}}
{{- end -}}

{{/* the Secrets the flow runs, the watcher and the registration read their environment from (S3,
Prefect API key, STAC database, more); the Dask pods' are snowdays.daskWorkerSecrets */}}
{{- define "snowdays.secrets" -}}
{{- $secrets := list -}}
{{- with .Values.s3.existingSecret }}{{ $secrets = append $secrets . }}{{ end -}}
{{- with .Values.prefect.apiKeySecret }}{{ $secrets = append $secrets . }}{{ end -}}
{{- with .Values.stacDatabase.existingSecret }}{{ $secrets = append $secrets . }}{{ end -}}
{{- range .Values.extraEnvFromSecrets }}{{ $secrets = append $secrets . }}{{ end -}}
{{- toJson $secrets -}}
{{- end -}}

{{/* envFrom of a pipeline pod: the settings' ConfigMap and the Secrets */}}
{{- define "snowdays.envFrom" -}}
- configMapRef:
    name: {{ include "snowdays.config" . }}
{{- range (include "snowdays.secrets" . | fromJsonArray) }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{/* the Secrets a Dask worker reads its environment from: S3's (it reads products and writes the
stores), the Prefect API key (it reports task runs), dask.extraEnvFromSecrets; never the STAC
database's nor extraEnvFromSecrets (the flow runs publish, the watcher searches) */}}
{{- define "snowdays.daskWorkerSecrets" -}}
{{- $secrets := list -}}
{{- with .Values.s3.existingSecret }}{{ $secrets = append $secrets . }}{{ end -}}
{{- with .Values.prefect.apiKeySecret }}{{ $secrets = append $secrets . }}{{ end -}}
{{- range .Values.dask.extraEnvFromSecrets }}{{ $secrets = append $secrets . }}{{ end -}}
{{- toJson $secrets -}}
{{- end -}}

{{/* envFrom of a Dask worker: the settings' ConfigMap and the Dask workers' Secrets */}}
{{- define "snowdays.daskWorkerEnvFrom" -}}
- configMapRef:
    name: {{ include "snowdays.config" . }}
{{- range (include "snowdays.daskWorkerSecrets" . | fromJsonArray) }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{/* the port of a URL when it is not HTTPS's 443 (which Dask pods reach anyway); empty: 443, or no URL */}}
{{- define "snowdays.portBeyond443" -}}
{{- if . -}}
{{- $url := urlParse . -}}
{{- $port := ternary "80" "443" (eq $url.scheme "http") -}}
{{- if contains ":" $url.host }}{{ $port = last (splitList ":" $url.host) }}{{ end -}}
{{- if ne $port "443" }}{{ $port }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* a label selector of every Dask pod: the long-lived cluster's and the ephemeral ones' (flows/cluster.py) */}}
{{- define "snowdays.daskPods" -}}
matchLabels:
  app.kubernetes.io/name: snowdays
matchExpressions:
  - {key: app.kubernetes.io/component, operator: In, values: [dask, dask-backfill]}
{{- end -}}

{{- define "snowdays.scratch" -}}
- name: scratch
  mountPath: /tmp
{{- end -}}
