{{/* The objects' name: the release's when it already says gprofiler, else "<release>-gprofiler". */}}
{{- define "gprofiler.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gprofiler.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gprofiler.labels" -}}
{{ include "gprofiler.selectorLabels" . }}
app.kubernetes.io/component: agent
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The Secret holding the token: the chart's own when a value is given. */}}
{{- define "gprofiler.tokenSecret" -}}
{{- if .Values.token.value -}}
{{- printf "%s-token" (include "gprofiler.fullname" .) -}}
{{- else -}}
{{- required "token.existingSecret or token.value is needed" .Values.token.existingSecret -}}
{{- end -}}
{{- end -}}
