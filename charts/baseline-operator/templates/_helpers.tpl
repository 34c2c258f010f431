{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "baseline-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart>, or the release name when it already contains the chart name.
*/}}
{{- define "baseline-operator.fullname" -}}
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

{{/*
Chart label value.
*/}}
{{- define "baseline-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "baseline-operator.labels" -}}
helm.sh/chart: {{ include "baseline-operator.chart" . }}
{{ include "baseline-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: baseline-operator
{{- end }}

{{/*
Selector labels (immutable in a Deployment: keep them small and stable).
*/}}
{{- define "baseline-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "baseline-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "baseline-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "baseline-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference; the tag defaults to the chart's appVersion.
*/}}
{{- define "baseline-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/*
"true" when the Velero Role and RoleBinding are rendered (see velero.rbac in values.yaml).
With `auto`: when Velero's namespace exists, so that installing on a cluster without Velero
succeeds (a Role cannot go into a namespace that does not exist); and when Helm has no cluster
to ask (`helm template`, ArgoCD, a client dry run: `lookup` answers nothing there, not even
kube-system, which every cluster has), so that a rendered manifest keeps the operator's Velero
rights as before; `velero.rbac=false` leaves them out there.
*/}}
{{- define "baseline-operator.veleroRbac" -}}
{{- if and .Values.rbac.create .Values.velero.rbac -}}
{{- if eq (toString .Values.velero.rbac) "auto" -}}
{{- if or (lookup "v1" "Namespace" "" .Values.velero.namespace) (not (lookup "v1" "Namespace" "" "kube-system")) -}}
true
{{- end -}}
{{- else -}}
true
{{- end -}}
{{- end -}}
{{- end }}

{{/*
"true" when the PrometheusRule is rendered (see prometheusRule.enabled in values.yaml). With
`auto`: when the cluster serves the Prometheus Operator's PrometheusRule (Helm asks the API
server's discovery; `helm template` knows only what `--api-versions` tells it), so that an
install on a cluster without the Prometheus Operator succeeds.
*/}}
{{- define "baseline-operator.prometheusRule" -}}
{{- if eq (toString .Values.prometheusRule.enabled) "auto" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule" -}}
true
{{- end -}}
{{- else if .Values.prometheusRule.enabled -}}
true
{{- end -}}
{{- end }}
