{{/* Names and labels shared by every template. */}}

{{- define "agw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "agw.xdsServiceName" -}}
{{- printf "%s-xds" (include "agw.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agw.adminServiceName" -}}
{{- printf "%s-admin" (include "agw.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "agw.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "agw.selectorLabels" -}}
app.kubernetes.io/name: agw-controlplane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "agw.labels" -}}
{{ include "agw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
