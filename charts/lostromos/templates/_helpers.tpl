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
{{- $about := "" }}
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
{{- if include "lostromos.multi" . }}
{{- include "lostromos.validateMulti" . }}
{{- else }}
{{- include "lostromos.validateSingle" . }}
{{- end }}
{{- end }}

{{/* The checks of one kind (`watch` + `chart`). */}}
{{- define "lostromos.validateSingle" -}}
{{- $w := .Values.watch }}
{{- $_ := required "watch.group is required: the API group of the watched CRD, e.g. platform.example.com" $w.group }}
{{- $_ = required "watch.version is required: the API version of the watched CRD, e.g. v1alpha1" $w.version }}
{{- $_ = required "watch.plural is required: the plural name of the watched CRD (e.g. tenants); the RBAC rules name it" $w.plural }}
{{- $_ = include "lostromos.source" . }}
{{- include "lostromos.validateOptions" . }}
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
{{- include "lostromos.validatePod" . }}
{{- end }}

{{/* The checks of several kinds (`watches`); each entry's are in lostromos.kinds. */}}
{{- define "lostromos.validateMulti" -}}
{{- $w := .Values.watch }}
{{- $set := list }}
{{- range $key := list "group" "version" "kind" "plural" "namespaces" "selector" "filterAnnotation" "clusterScoped" }}
{{- if index $w $key }}{{ $set = append $set (printf "watch.%s" $key) }}{{ end }}
{{- end }}
{{- range $key := list "path" "configMap" "reference" "version" "templatesPath" "templatesConfigMap" }}
{{- if index $.Values.chart $key }}{{ $set = append $set (printf "chart.%s" $key) }}{{ end }}
{{- end }}
{{- if $set }}
{{- fail (printf "watch and watches are exclusive: watches lists %d kind(s), each with its own chart, and %s %s set too; one installation serves either one kind (watch + chart) or the kinds of watches: move that kind into watches as an entry, or remove %s" (len .Values.watches) (join ", " $set) (ternary "is" "are" (eq (len $set) 1)) (join ", " $set)) }}
{{- end }}
{{- $_ := include "lostromos.kinds" . }}
{{- include "lostromos.validateOptions" . }}
{{- include "lostromos.validatePod" . }}
{{- end }}

{{/* Checks of the options that hold for one kind or all. */}}
{{- define "lostromos.validateOptions" -}}
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
{{- if not (has (toString .Values.adoptFrom) (list "" "helm-operator")) }}
{{- fail (printf "adoptFrom must be helm-operator (or empty: adopt nothing), not %q" (toString .Values.adoptFrom)) }}
{{- end }}
{{- end }}

{{/* Checks of the pod. */}}
{{- define "lostromos.validatePod" -}}
{{- if and (gt (int .Values.replicas) 1) (not (include "lostromos.leaderElect" .)) }}
{{- fail "replicas > 1 needs leader election: set leaderElection.enabled to auto or true" }}
{{- end }}
{{- $_ := include "lostromos.terminationGracePeriodSeconds" . }}
{{- end }}

{{/* RBAC rules on the watched type. */}}
{{- define "lostromos.crRules" -}}
{{- include "lostromos.typeRules" (list (dict "group" .Values.watch.group "plural" .Values.watch.plural)) }}
{{- end }}

{{/*
RBAC rules on watched types, given as a list of {group, plural}: one rule per
API group for the types, one for their status, one for their finalizers.
*/}}
{{- define "lostromos.typeRules" -}}
{{- $byGroup := dict }}
{{- range . }}
{{- $g := toString .group }}
{{- $_ := set $byGroup $g (append (get $byGroup $g | default list) (toString .plural) | uniq) }}
{{- end }}
{{- range $i, $g := keys $byGroup | sortAlpha }}
{{- $plurals := get $byGroup $g }}
{{- $quoted := list }}
{{- $status := list }}
{{- $finalizers := list }}
{{- range $plurals }}
{{- $quoted = append $quoted (quote .) }}
{{- $status = append $status (printf "%s/status" . | quote) }}
{{- $finalizers = append $finalizers (printf "%s/finalizers" . | quote) }}
{{- end }}
{{- if $i }}{{ "\n" }}{{ end -}}
- apiGroups: [{{ $g | quote }}]
  resources: [{{ join ", " $quoted }}]
  verbs: [get, list, watch, patch]
- apiGroups: [{{ $g | quote }}]
  resources: [{{ join ", " $status }}]
  verbs: [get, patch, update]
- apiGroups: [{{ $g | quote }}]
  resources: [{{ join ", " $finalizers }}]
  verbs: [update]
{{- end }}
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
{{- include "lostromos.objectKindRules" . }}
{{- end }}
{{- end }}

{{/* The rules of rbac.objects, whatever watchObjects says. */}}
{{- define "lostromos.objectKindRules" -}}
{{- $rules := list }}
{{- range .Values.rbac.objects }}
{{- $rules = append $rules (dict "apiGroups" .apiGroups "resources" .resources "verbs" (list "list" "watch")) }}
{{- end }}
{{- with $rules }}{{ toYaml . }}{{ end }}
{{- end }}

{{/* "true" when the chart serves several kinds, from `watches` (`--watches`). */}}
{{- define "lostromos.multi" -}}
{{- if .Values.watches }}true{{ end }}
{{- end }}

{{/* Where the watches file is mounted, and its path (`--watches`). */}}
{{- define "lostromos.watchesDir" -}}/etc/lostromos/watches{{- end }}

{{/*
The kinds of `watches`, checked and resolved, as JSON {"kinds": [...]}; each
kind: index, label (how messages name it), group, kind, plural, clusterScoped,
namespaces (where its CRs are watched; empty = all), releaseNamespace (its own
or the top-level one; empty = the CRs' namespaces), watchObjects (its own, or
helm-operator's watchDependentResources, or the top-level one), mounts (the
ConfigMaps it needs: name, configMap, mountPath, key), about (its chart, in
words) and entry (its entry of the watches file, with run's per-kind options
under their long names).
*/}}
{{- define "lostromos.kinds" -}}
{{- $V := .Values }}
{{- $kinds := list }}
{{- $seen := dict }}
{{- range $i, $e := $V.watches }}
{{- $at := printf "watches[%d]" $i }}
{{- if not (kindIs "map" $e) }}
{{- fail (printf "%s must be a map (group, version, kind, plural, chart, ...), not %v" $at $e) }}
{{- end }}
{{- $label := $at }}
{{- if $e.kind }}{{ $label = printf "%s (kind %s)" $at (toString $e.kind) }}{{ end }}
{{- range list (list "group" "the API group of the watched CRD, e.g. platform.example.com") (list "version" "the API version of the watched CRD, e.g. v1alpha1") (list "kind" "the kind of the watched CRD, e.g. Tenant") (list "plural" "the plural name of the watched CRD (e.g. tenants); the RBAC rules name it") }}
{{- if not (index $e (first .)) }}
{{- fail (printf "%s.%s is required: %s" $at (first .) (last .)) }}
{{- end }}
{{- end }}
{{- $group := toString $e.group }}
{{- $id := printf "%s/%s" $group (lower (toString $e.kind)) }}
{{- if hasKey $seen $id }}
{{- fail (printf "%s and %s both watch kind %s of group %s: one kind is one controller; keep one entry per kind" (get $seen $id) $at (toString $e.kind) $group) }}
{{- end }}
{{- $_ := set $seen $id $at }}
{{- $base := printf "/etc/lostromos/kinds/%d" $i }}
{{- $f := dict "group" $group "version" (toString $e.version) "kind" (toString $e.kind) }}
{{- $mounts := list }}

{{- /* the driven chart: a string is a path, as in helm-operator's files */}}
{{- $c := default (dict) $e.chart }}
{{- if kindIs "string" $c }}{{ $c = dict "path" $c }}{{ end }}
{{- $set := list }}
{{- range $key := list "path" "configMap" "reference" "templatesPath" "templatesConfigMap" }}
{{- if index $c $key }}{{ $set = append $set (printf "%s.chart.%s" $at $key) }}{{ end }}
{{- end }}
{{- if eq (len $set) 0 }}
{{- fail (printf "%s: no chart to drive: set exactly one of %s.chart.path (a chart inside the image), .chart.configMap (a ConfigMap holding chart.tgz), .chart.reference (+ .chart.version), .chart.templatesPath (a directory of *.tmpl inside the image) or .chart.templatesConfigMap (a ConfigMap of *.tmpl files)" $label $at) }}
{{- else if gt (len $set) 1 }}
{{- fail (printf "%s: ambiguous chart: %s are set; set exactly one of chart.path, chart.configMap, chart.reference, chart.templatesPath or chart.templatesConfigMap" $label (join ", " $set)) }}
{{- end }}
{{- $source := first $set }}
{{- $about := "" }}
{{- if or $c.templatesPath $c.templatesConfigMap }}
{{- if $c.version }}
{{- fail (printf "%s: %s.chart.version applies only to chart.reference, not to %s (templates are not a versioned chart); remove it" $label $at $source) }}
{{- end }}
{{- range $key := list "chartAnnotation" "allowedCharts" }}
{{- if index $e $key }}
{{- fail (printf "%s: %s.%s is for CRs choosing among charts; with %s there is none to choose; remove it" $label $at $key $source) }}
{{- end }}
{{- end }}
{{- if and $e.valuesLayout (ne (toString $e.valuesLayout) "spec") }}
{{- fail (printf "%s: %s.valuesLayout does not apply to templates (%s): they get the whole CR as `.`, not a chart's values; remove it" $label $at $source) }}
{{- end }}
{{- if $c.templatesPath }}
{{- $_ := set $f "templates" (toString $c.templatesPath) }}
{{- $about = printf "the Go templates in %s" (toString $c.templatesPath) }}
{{- else }}
{{- $about = printf "the Go templates in ConfigMap %s" (toString $c.templatesConfigMap) }}
{{- $mounts = append $mounts (dict "name" (printf "kind-%d-templates" $i) "configMap" (toString $c.templatesConfigMap) "mountPath" (printf "%s/templates" $base) "key" "") }}
{{- $_ := set $f "templates" (printf "%s/templates" $base) }}
{{- end }}
{{- else }}
{{- if and $c.version (not $c.reference) }}
{{- fail (printf "%s: %s.chart.version applies only to chart.reference; remove it, or use chart.reference" $label $at) }}
{{- end }}
{{- if $c.path }}
{{- $_ := set $f "chart" (toString $c.path) }}
{{- $about = toString $c.path }}
{{- else if $c.configMap }}
{{- $about = printf "the chart in ConfigMap %s" (toString $c.configMap) }}
{{- $mounts = append $mounts (dict "name" (printf "kind-%d-chart" $i) "configMap" (toString $c.configMap) "mountPath" (printf "%s/chart" $base) "key" "chart.tgz") }}
{{- $_ := set $f "chart" (printf "%s/chart/chart.tgz" $base) }}
{{- else }}
{{- $_ := set $f "chart" (toString $c.reference) }}
{{- $about = toString $c.reference }}
{{- with $c.version }}{{ $_ := set $f "chart-version" (toString .) }}{{ $about = printf "%s version %s" $about (toString .) }}{{ end }}
{{- end }}
{{- /* a chart's options: this entry's, else the top-level ones */}}
{{- $layout := toString (default $V.valuesLayout $e.valuesLayout) }}
{{- if not (has $layout (list "spec" "resource")) }}
{{- fail (printf "%s: valuesLayout must be spec or resource, not %q" $label $layout) }}
{{- end }}
{{- if ne $layout "spec" }}{{ $_ := set $f "values-layout" $layout }}{{ end }}
{{- $annotation := toString (default $V.chartAnnotation $e.chartAnnotation) }}
{{- $allowed := default $V.allowedCharts $e.allowedCharts }}
{{- if and $annotation (not $allowed) }}
{{- fail (printf "%s: chartAnnotation needs allowedCharts: the chart reference prefixes a CR may name" $label) }}
{{- end }}
{{- with $annotation }}{{ $_ := set $f "chart-annotation" . }}{{ end }}
{{- with $allowed }}{{ $_ := set $f "allowed-chart" . }}{{ end }}
{{- end }}

{{- /* where its CRs and releases live */}}
{{- $namespaces := default (list) $e.namespaces }}
{{- $releaseNamespace := toString (default $V.releaseNamespace $e.releaseNamespace) }}
{{- if $e.clusterScoped }}
{{- if $namespaces }}
{{- fail (printf "%s: %s.clusterScoped: a cluster-scoped type has no namespaces; remove %s.namespaces (releases go to its releaseNamespace)" $label $at $at) }}
{{- end }}
{{- if not $releaseNamespace }}
{{- fail (printf "%s: %s.clusterScoped needs a releaseNamespace (the entry's, or the top-level one): cluster-scoped CRs have no namespace of their own for their releases" $label $at) }}
{{- end }}
{{- if and $V.rbac.create (not $V.rbac.clusterWide) }}
{{- fail (printf "%s: %s.clusterScoped needs rbac.clusterWide=true: a cluster-scoped type can only be granted by a ClusterRole" $label $at) }}
{{- end }}
{{- end }}
{{- if and $V.rbac.create (not $V.rbac.clusterWide) (not $namespaces) (not $e.clusterScoped) }}
{{- fail (printf "%s: rbac.clusterWide=false needs %s.namespaces (the namespaces that get a Role); or set rbac.clusterWide=true to watch every namespace" $label $at) }}
{{- end }}
{{- with $namespaces }}{{ $_ := set $f "namespace" . }}{{ end }}

{{- /* readiness and drift: watchObjects (the chart's name) or watchDependentResources (helm-operator's) */}}
{{- if and (hasKey $e "watchObjects") (hasKey $e "watchDependentResources") }}
{{- fail (printf "%s: watchObjects and watchDependentResources are one option (--watch-objects) under two names; keep one" $label) }}
{{- end }}
{{- $watchObjects := ne (toString $V.watchObjects) "false" }}
{{- if hasKey $e "watchObjects" }}
{{- $watchObjects = ne (toString $e.watchObjects) "false" }}
{{- $_ := set $f "watch-objects" $e.watchObjects }}
{{- else if hasKey $e "watchDependentResources" }}
{{- $watchObjects = ne (toString $e.watchDependentResources) "false" }}
{{- $_ := set $f "watchDependentResources" $e.watchDependentResources }}
{{- end }}

{{- /* values ConfigMaps, each mounted at its own path */}}
{{- $paths := list }}
{{- range $j, $name := $e.valuesConfigMaps }}
{{- $mounts = append $mounts (dict "name" (printf "kind-%d-values-%d" $i $j) "configMap" (toString $name) "mountPath" (printf "%s/values/%d" $base $j) "key" "values.yaml") }}
{{- $paths = append $paths (printf "%s/values/%d/values.yaml" $base $j) }}
{{- end }}
{{- with $paths }}{{ $_ := set $f "values" . }}{{ end }}
{{- $paths = list }}
{{- range $j, $name := $e.overrideValuesConfigMaps }}
{{- $mounts = append $mounts (dict "name" (printf "kind-%d-override-values-%d" $i $j) "configMap" (toString $name) "mountPath" (printf "%s/override-values/%d" $base $j) "key" "values.yaml") }}
{{- $paths = append $paths (printf "%s/override-values/%d/values.yaml" $base $j) }}
{{- end }}
{{- with $paths }}{{ $_ := set $f "override-values" . }}{{ end }}

{{- /* helm-operator's keys, as they are */}}
{{- range $key := list "overrideValues" "selector" "reconcilePeriod" "maxConcurrentReconciles" "dryRunOption" }}
{{- $v := index $e $key }}
{{- if not (or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v ""))) }}
{{- $_ := set $f $key $v }}
{{- end }}
{{- end }}
{{- /* run's per-kind options, from the chart's names to their long names */}}
{{- range $key, $option := dict "filterAnnotation" "filter-annotation" "metadataKey" "metadata-key" "releasePrefix" "release-prefix" "releaseNamespace" "release-namespace" "timeout" "timeout" "wait" "wait" "historyMax" "history-max" "readyTimeout" "ready-timeout" "drift" "drift" "adoptFrom" "adopt-from" }}
{{- $v := index $e $key }}
{{- if not (or (kindIs "invalid" $v) (and (kindIs "string" $v) (eq $v ""))) }}
{{- $_ := set $f $option $v }}
{{- end }}
{{- end }}
{{- if not (has (toString (default "" $e.drift)) (list "" "correct" "warn" "off")) }}
{{- fail (printf "%s: drift must be correct, warn or off (or empty for the default), not %q" $label (toString $e.drift)) }}
{{- end }}
{{- if not (has (toString (default "" $e.adoptFrom)) (list "" "helm-operator")) }}
{{- fail (printf "%s: adoptFrom must be helm-operator (or empty), not %q" $label (toString $e.adoptFrom)) }}
{{- end }}

{{- $kinds = append $kinds (dict "index" $i "label" $label "group" $group "kind" (toString $e.kind) "version" (toString $e.version) "plural" (toString $e.plural) "clusterScoped" (eq (toString $e.clusterScoped) "true") "namespaces" $namespaces "releaseNamespace" $releaseNamespace "watchObjects" $watchObjects "mounts" $mounts "entry" $f "about" $about) }}
{{- end }}
{{- toJson (dict "kinds" $kinds) }}
{{- end }}

{{/* The watches file (`--watches`): helm-operator's format, one entry per kind. */}}
{{- define "lostromos.watchesFile" -}}
# Rendered by the Lostrómos chart from its `watches` value: one entry per
# watched kind, in Operator SDK helm-operator's watches.yaml format, with
# run's per-kind options under their long names.
{{- $entries := list }}
{{- range (include "lostromos.kinds" . | fromJson).kinds }}
{{- $entries = append $entries .entry }}
{{- end }}
{{ toYaml $entries }}
{{- end }}
