{{/* Labels every object carries (deploy/ sets the same), plus commonLabels. */}}
{{- define "mtls-operator.labels" -}}
app.kubernetes.io/name: mtls-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The labels of the admission policy's objects. */}}
{{- define "mtls-operator.admissionLabels" -}}
{{ include "mtls-operator.labels" . }}
app.kubernetes.io/part-of: mtls-operator
app.kubernetes.io/component: admission
{{- end }}

{{- define "mtls-operator.selectorLabels" -}}
app.kubernetes.io/name: mtls-operator
{{- end }}

{{- define "mtls-operator.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end }}

{{/*
The admission policy's parameters from namePolicy.allow: a rule with namespaces gives
dnsSuffixes.<ns> / ipRanges.<ns>; a rule without gives dnsSuffixes / ipRanges (every namespace).
*/}}
{{- define "mtls-operator.admissionParams" -}}
{{- $acc := dict -}}
{{- range $rule := .Values.namePolicy.allow -}}
{{- $keys := list "" -}}
{{- if $rule.namespaces }}{{ $keys = list }}{{ range $rule.namespaces }}{{ $keys = append $keys (printf ".%s" .) }}{{ end }}{{ end -}}
{{- range $k := $keys -}}
{{- range $field := list "dnsSuffixes" "ipRanges" -}}
{{- $vals := get $rule $field | default list -}}
{{- if $vals -}}
{{- $key := printf "%s%s" $field $k -}}
{{- $_ := set $acc $key (concat (get $acc $key | default list) $vals) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $key := keys $acc | sortAlpha }}
{{ $key }}: {{ get $acc $key | uniq | join " " | quote }}
{{- end }}
{{- end }}

{{/*
Objects read from deploy/ (files/deploy links there, so the chart and kustomize share one copy),
moved into the release namespace: metadata.namespace, RBAC subjects, the admission binding's
paramRef and a ServiceMonitor's namespaceSelector. Labels from commonLabels are added.
Usage: include "mtls-operator.fromDeploy" (dict "root" $ "file" "rbac.yaml")
With "namespace": every object goes into that namespace instead (for the namespaced objects of a
per-namespace overlay, e.g. optional/pod-certificates-namespace/rbac.yaml); subjects still name the
release namespace.
*/}}
{{- define "mtls-operator.fromDeploy" -}}
{{- $root := .root -}}
{{- $ns := $root.Release.Namespace -}}
{{- $into := .namespace -}}
{{- $text := $root.Files.Get (printf "files/deploy/%s" .file) -}}
{{- if not $text }}{{ fail (printf "deploy/%s is missing from the chart (files/deploy must link to deploy/)" .file) }}{{ end -}}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" $text -1 }}
{{- $obj := fromYaml $doc }}
{{- if $obj.kind }}
{{- if $into }}{{ $_ := set $obj.metadata "namespace" $into }}{{ else if $obj.metadata.namespace }}{{ $_ := set $obj.metadata "namespace" $ns }}{{ end }}
{{- with $root.Values.commonLabels }}{{ $_ := set $obj.metadata "labels" (merge (dict) . ($obj.metadata.labels | default dict)) }}{{ end }}
{{- range $obj.subjects }}{{ if .namespace }}{{ $_ := set . "namespace" $ns }}{{ end }}{{ end }}
{{- if and $obj.spec (kindIs "map" $obj.spec) }}
{{- with $obj.spec.paramRef }}{{ $_ := set . "namespace" $ns }}{{ end }}
{{- with $obj.spec.namespaceSelector }}{{ if .matchNames }}{{ $_ := set . "matchNames" (list $ns) }}{{ end }}{{ end }}
{{- end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}
