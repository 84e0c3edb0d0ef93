{{/*
Name of every object of the release: the release name (unique within its
namespace), trimmed to the 63 characters a label value allows.
*/}}
{{- define "characters.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The CR's spec; an empty map when the chart is rendered without a CR.
*/}}
{{- define "characters.spec" -}}
{{- (.Values.resource).spec | default dict | toJson -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "characters.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Labels that select the pods; they must not change across upgrades. */}}
{{- define "characters.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
