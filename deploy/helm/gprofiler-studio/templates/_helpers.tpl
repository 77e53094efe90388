{{/* The objects' name: the release's when it already says gprofiler-studio, else "<release>-gprofiler-studio". */}}
{{- define "studio.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "studio.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "studio.labels" -}}
{{ include "studio.selectorLabels" . }}
app.kubernetes.io/component: studio
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* The Secret of the upload token: the user's, or the one this chart makes. */}}
{{- define "studio.tokenSecret" -}}
{{- .Values.uploadToken.existingSecret | default .Values.uploadToken.secretName -}}
{{- end -}}

{{/* A value kept across upgrades: the existing Secret's, else a new random one. */}}
{{- define "studio.keep" -}}
{{- $secret := lookup "v1" "Secret" .namespace .name -}}
{{- if and $secret (index $secret.data .key) -}}
{{- index $secret.data .key -}}
{{- else -}}
{{- randAlphaNum .length | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Where studio keeps its data: the data directory, and ClickHouse's URL (given or from its Secret). */}}
{{- define "studio.env" -}}
- name: GPROFILER_STUDIO_DATA_DIR
  value: /data/studio
{{- if .Values.storageSecret.name }}
- name: GPROFILER_STUDIO_STORAGE
  valueFrom:
    secretKeyRef:
      name: {{ .Values.storageSecret.name }}
      key: {{ .Values.storageSecret.key }}
{{- else if .Values.storage }}
- name: GPROFILER_STUDIO_STORAGE
  value: {{ .Values.storage | quote }}
{{- end }}
{{- end -}}
