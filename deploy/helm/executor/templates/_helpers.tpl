{{/* The release's full name: the release name, with the chart's appended unless it contains it. */}}
{{- define "executor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "executor.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The executor pods' selector. */}}
{{- define "executor.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: executor
{{- end -}}

{{- define "executor.serviceAccountName" -}}
{{- default (include "executor.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "executor.secretName" -}}
{{- default (include "executor.fullname" .) .Values.executor.existingSecret -}}
{{- end -}}

{{- define "executor.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- end -}}

{{- define "executor.mirrorName" -}}
{{- printf "%s-registry-mirror" (include "executor.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The daemon's daemon.json: dind.daemonConfig, with the mirror when it is enabled. */}}
{{- define "executor.daemonJson" -}}
{{- $config := deepCopy .Values.dind.daemonConfig -}}
{{- if .Values.dind.registryMirror.enabled -}}
{{- $mirror := printf "%s:5000" (include "executor.mirrorName" .) -}}
{{- $_ := set $config "registry-mirrors" (list (printf "http://%s" $mirror)) -}}
{{- $_ := set $config "insecure-registries" (list $mirror) -}}
{{- end -}}
{{- toPrettyJson $config -}}
{{- end -}}

{{/* kubernetes.nodeSelector as EXECUTOR_KUBERNETES_NODE_SELECTOR's k=v,k2=v2. */}}
{{- define "executor.nodeSelectorList" -}}
{{- $pairs := list -}}
{{- range $k, $v := .Values.kubernetes.nodeSelector -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
