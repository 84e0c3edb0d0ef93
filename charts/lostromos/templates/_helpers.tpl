{{/* Names, labels, settings derived from the values, and their checks. */}}

{{- define "lostromos.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: at most 63 characters (it names Services and label values). */}}
{{- define "lostromos.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of cluster-scoped objects: unique per (namespace, release). */}}
{{- define "lostromos.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "lostromos.fullname" .) }}
{{- end }}

{{- define "lostromos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lostromos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lostromos.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lostromos.labels" -}}
helm.sh/chart: {{ include "lostromos.chart" . }}
{{ include "lostromos.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lostromos.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lostromos.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false (an existing ServiceAccount)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lostromos.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/* "true" when leader election is on: auto = replicas > 1. */}}
{{- define "lostromos.leaderElect" -}}
{{- $mode := toString .Values.leaderElection.enabled }}
{{- if eq $mode "auto" }}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- else if eq $mode "true" }}true
{{- else if ne $mode "false" }}
{{- fail (printf "leaderElection.enabled must be auto, true or false, not %q" $mode) }}
{{- end }}
{{- end }}

{{/* "true" when Lostrómos watches the releases' objects (watchObjects, default true). */}}
{{- define "lostromos.watchObjects" -}}
{{- if ne (toString .Values.watchObjects) "false" }}true{{ end }}
{{- end }}

{{- define "lostromos.leaseName" -}}
{{- default (include "lostromos.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* Seconds of a Lostrómos duration: 90, 30s, 5m, 1h30m. */}}
{{- define "lostromos.seconds" -}}
{{- $d := toString . }}
{{- if regexMatch "^[0-9]+$" $d }}
{{- $d }}
{{- else if regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$" $d }}
{{- $h := regexFind "[0-9]+h" $d | trimSuffix "h" | default "0" | atoi }}
{{- $m := regexFind "[0-9]+m" $d | trimSuffix "m" | default "0" | atoi }}
{{- $s := regexFind "[0-9]+s" $d | trimSuffix "s" | default "0" | atoi }}
{{- add (mul $h 3600) (mul $m 60) $s }}
{{- else }}
{{- fail (printf "%q is not a duration: write 90, 30s, 5m or 1h30m" $d) }}
{{- end }}
{{- end }}

{{- define "lostromos.terminationGracePeriodSeconds" -}}
{{- $grace := include "lostromos.seconds" .Values.shutdownGrace | int }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $grace 15 }}
{{- else if eq (toString .Values.terminationGracePeriodSeconds) "" }}
{{- add $grace 15 }}
{{- else }}
{{- $t := int .Values.terminationGracePeriodSeconds }}
{{- if le $t $grace }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be larger than shutdownGrace (%s = %ds): the kubelet would kill Lostrómos while helm processes are still finishing" $t (toString .Values.shutdownGrace) $grace) }}
{{- end }}
{{- $t }}
{{- end }}
{{- end }}

{{/*
The chart choice as "--chart" arguments (a list, one per line), after checking
that exactly one of chart.path, chart.configMap, chart.reference is set.
*/}}
{{- define "lostromos.chartPath" -}}
{{- $c := .Values.chart }}
{{- $set := list }}
{{- if $c.path }}{{ $set = append $set "chart.path" }}{{ end }}
{{- if $c.configMap }}{{ $set = append $set "chart.configMap" }}{{ end }}
{{- if $c.reference }}{{ $set = append $set "chart.reference" }}{{ end }}
{{- if eq (len $set) 0 }}
{{- fail "no chart to drive: set exactly one of chart.path (a chart inside the image), chart.configMap (a ConfigMap holding chart.tgz) or chart.reference (+ chart.version)" }}
{{- else if gt (len $set) 1 }}
{{- fail (printf "ambiguous chart: %s are set; set exactly one of chart.path, chart.configMap or chart.reference" (join ", " $set)) }}
{{- end }}
{{- if and $c.version (not $c.reference) }}
{{- fail "chart.version applies only to chart.reference; remove it, or use chart.reference" }}
{{- end }}
{{- if $c.path }}{{ $c.path }}
{{- else if $c.configMap }}/chart/chart.tgz
{{- else }}{{ $c.reference }}
{{- end }}
{{- end }}

{{/* Every check on the values; included once by the Deployment. */}}
{{- define "lostromos.validate" -}}
{{- $w := .Values.watch }}
{{- $_ := required "watch.group is required: the API group of the watched CRD, e.g. platform.example.com" $w.group }}
{{- $_ = required "watch.version is required: the API version of the watched CRD, e.g. v1alpha1" $w.version }}
{{- $_ = required "watch.plural is required: the plural name of the watched CRD (e.g. tenants); the RBAC rules name it" $w.plural }}
{{- if not (has (toString .Values.valuesLayout) (list "spec" "resource")) }}
{{- fail (printf "valuesLayout must be spec or resource, not %q" (toString .Values.valuesLayout)) }}
{{- end }}
{{- if not (has (toString .Values.logFormat) (list "json" "human")) }}
{{- fail (printf "logFormat must be json or human, not %q" (toString .Values.logFormat)) }}
{{- end }}
{{- if not (has (toString .Values.drift) (list "" "correct" "warn" "off")) }}
{{- fail (printf "drift must be correct, warn or off (or empty for the default), not %q" (toString .Values.drift)) }}
{{- end }}
{{- if and .Values.chartAnnotation (not .Values.allowedCharts) }}
{{- fail "chartAnnotation needs allowedCharts: the chart reference prefixes a CR may name" }}
{{- end }}
{{- if $w.clusterScoped }}
{{- if $w.namespaces }}
{{- fail "watch.clusterScoped: a cluster-scoped type has no namespaces; remove watch.namespaces (releases go to releaseNamespace)" }}
{{- end }}
{{- if not .Values.releaseNamespace }}
{{- fail "watch.clusterScoped needs releaseNamespace: cluster-scoped CRs have no namespace of their own for their releases" }}
{{- end }}
{{- if and .Values.rbac.create (not .Values.rbac.clusterWide) }}
{{- fail "watch.clusterScoped needs rbac.clusterWide=true: a cluster-scoped type can only be granted by a ClusterRole" }}
{{- end }}
{{- end }}
{{- if and .Values.rbac.create (not .Values.rbac.clusterWide) (not $w.namespaces) }}
{{- fail "rbac.clusterWide=false needs watch.namespaces (the namespaces that get a Role); or set rbac.clusterWide=true to watch every namespace" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not (include "lostromos.leaderElect" .)) }}
{{- fail "replicas > 1 needs leader election: set leaderElection.enabled to auto or true" }}
{{- end }}
{{- $_ = include "lostromos.chartPath" . }}
{{- $_ = include "lostromos.terminationGracePeriodSeconds" . }}
{{- end }}

{{/* RBAC rules on the watched type. */}}
{{- define "lostromos.crRules" -}}
- apiGroups: [{{ .Values.watch.group | quote }}]
  resources: [{{ .Values.watch.plural | quote }}]
  verbs: [get, list, watch, patch]
- apiGroups: [{{ .Values.watch.group | quote }}]
  resources: [{{ printf "%s/status" .Values.watch.plural | quote }}]
  verbs: [get, patch, update]
- apiGroups: [{{ .Values.watch.group | quote }}]
  resources: [{{ printf "%s/finalizers" .Values.watch.plural | quote }}]
  verbs: [update]
{{- end }}

{{/* RBAC rules for the Events Lostrómos records on CRs. */}}
{{- define "lostromos.eventRules" -}}
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* RBAC rules for helm's release storage (Secrets). */}}
{{- define "lostromos.secretRules" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, update, patch, delete]
{{- end }}

{{/*
RBAC rules for the object watches: read-only list and watch on each kind of
rbac.objects (the verbs are the chart's, not the user's); none without
watchObjects.
*/}}
{{- define "lostromos.objectRules" -}}
{{- if include "lostromos.watchObjects" . }}
{{- $rules := list }}
{{- range .Values.rbac.objects }}
{{- $rules = append $rules (dict "apiGroups" .apiGroups "resources" .resources "verbs" (list "list" "watch")) }}
{{- end }}
{{- with $rules }}{{ toYaml . }}{{ end }}
{{- end }}
{{- end }}
