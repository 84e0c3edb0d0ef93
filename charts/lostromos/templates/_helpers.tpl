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
The source of the releases' manifests, after checking that exactly one of
chart.path, chart.configMap, chart.reference (a chart), chart.templatesPath,
chart.templatesConfigMap (a directory of Go templates) is set, and that no
chart-only value comes with templates: "chart" or "templates".
*/}}
{{- define "lostromos.source" -}}
{{- $c := .Values.chart }}
{{- $set := list }}
{{- range $key := list "path" "configMap" "reference" "templatesPath" "templatesConfigMap" }}
{{- if index $c $key }}{{ $set = append $set (printf "chart.%s" $key) }}{{ end }}
{{- end }}
{{- if eq (len $set) 0 }}
{{- fail "no chart to drive: set exactly one of chart.path (a chart inside the image), chart.configMap (a ConfigMap holding chart.tgz), chart.reference (+ chart.version), chart.templatesPath (a directory of *.tmpl inside the image) or chart.templatesConfigMap (a ConfigMap of *.tmpl files)" }}
{{- else if gt (len $set) 1 }}
{{- fail (printf "ambiguous chart: %s are set; set exactly one of chart.path, chart.configMap, chart.reference, chart.templatesPath or chart.templatesConfigMap" (join ", " $set)) }}
{{- end }}
{{- $source := first $set }}
{{- if or $c.templatesPath $c.templatesConfigMap }}
{{- if $c.version }}
{{- fail (printf "chart.version applies only to chart.reference, not to %s (templates are not a versioned chart); remove chart.version" $source) }}
{{- end }}
{{- if .Values.chartAnnotation }}
{{- fail (printf "chartAnnotation lets CRs choose among charts; with %s there is none to choose; remove chartAnnotation (and allowedCharts)" $source) }}
{{- end }}
{{- if .Values.allowedCharts }}
{{- fail (printf "allowedCharts are the charts a CR may name with chartAnnotation; with %s there is none to choose; remove allowedCharts" $source) }}
{{- end }}
{{- if ne (toString .Values.valuesLayout) "spec" }}
{{- fail (printf "valuesLayout does not apply to templates (%s): they get the whole CR as `.`, not a chart's values; remove valuesLayout (or set it back to spec)" $source) }}
{{- end }}
{{- printf "templates" }}
{{- else }}
{{- if and $c.version (not $c.reference) }}
{{- fail "chart.version applies only to chart.reference; remove it, or use chart.reference" }}
{{- end }}
{{- printf "chart" }}
{{- end }}
{{- end }}

{{/* The `--chart` argument: empty with templates. */}}
{{- define "lostromos.chartPath" -}}
{{- if eq (include "lostromos.source" .) "chart" }}
{{- $c := .Values.chart }}
{{- if $c.path }}{{ $c.path }}
{{- else if $c.configMap }}/chart/chart.tgz
{{- else }}{{ $c.reference }}
{{- end }}
{{- end }}
{{- end }}

{{/* The `--templates` argument: empty with a chart. */}}
{{- define "lostromos.templatesPath" -}}
{{- if eq (include "lostromos.source" .) "templates" }}
{{- $c := .Values.chart }}
{{- if $c.templatesPath }}{{ $c.templatesPath }}
{{- else }}/etc/lostromos/templates
{{- end }}
{{- end }}
{{- end }}

{{/* Every check on the values; included once by the Deployment. */}}
{{- define "lostromos.validate" -}}
{{- $w := .Values.watch }}
{{- $_ := required "watch.group is required: the API group of the watched CRD, e.g. platform.example.com" $w.group }}
{{- $_ = required "watch.version is required: the API version of the watched CRD, e.g. v1alpha1" $w.version }}
{{- $_ = required "watch.plural is required: the plural name of the watched CRD (e.g. tenants); the RBAC rules name it" $w.plural }}
{{- $_ = include "lostromos.source" . }}
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
