{{/* Names */}}
{{- define "gitfaas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitfaas.fullname" -}}
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

{{- define "gitfaas.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitfaas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitfaas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gitfaas.labels" -}}
helm.sh/chart: {{ include "gitfaas.chart" . }}
{{ include "gitfaas.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gitfaas.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gitfaas.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gitfaas.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Git access: "ssh", "token" (a Secret holds it) or "none" (a public repository). */}}
{{- define "gitfaas.gitMode" -}}
{{- if eq (lower (toString .Values.app.git.sshKey.usePrivateKey)) "yes" }}ssh
{{- else if or .Values.app.git.http.existingSecret .Values.app.git.http.personalToken }}token
{{- else }}none
{{- end }}
{{- end }}

{{- define "gitfaas.gitSecretName" -}}
{{- default (printf "%s-git" (include "gitfaas.fullname" .)) .Values.app.git.http.existingSecret }}
{{- end }}

{{- define "gitfaas.gitSecretKey" -}}
{{- if .Values.app.git.http.existingSecret }}{{ .Values.app.git.http.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{- define "gitfaas.authSecretName" -}}
{{- default (printf "%s-auth" (include "gitfaas.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "gitfaas.authSecretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}tokens{{ end }}
{{- end }}

{{- define "gitfaas.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "gitfaas.fullname" .)) .Values.webhook.existingSecret }}
{{- end }}

{{- define "gitfaas.webhookSecretKey" -}}
{{- if .Values.webhook.existingSecret }}{{ .Values.webhook.existingSecretKey }}{{ else }}secret{{ end }}
{{- end }}

{{- define "gitfaas.redisFullname" -}}
{{- printf "%s-redis" (include "gitfaas.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The Secret holding the Redis password: an existing one, or the chart's. */}}
{{- define "gitfaas.redisSecretName" -}}
{{- default (include "gitfaas.redisFullname" .) .Values.redis.auth.existingSecret }}
{{- end }}

{{- define "gitfaas.redisSecretKey" -}}
{{- if .Values.redis.auth.existingSecret }}{{ .Values.redis.auth.existingSecretKey }}{{ else }}redis-password{{ end }}
{{- end }}

{{/* Whether gitfaas gets a Redis password at all (always with the bundled Redis). */}}
{{- define "gitfaas.redisHasPassword" -}}
{{- if or .Values.redis.enabled .Values.redis.auth.existingSecret .Values.redis.auth.password }}true{{ end }}
{{- end }}

{{/* The chart creates the password Secret unless an existing one is named. */}}
{{- define "gitfaas.redisCreateSecret" -}}
{{- if and (not .Values.redis.auth.existingSecret) (or .Values.redis.enabled .Values.redis.auth.password) }}true{{ end }}
{{- end }}

{{- define "gitfaas.redisUrl" -}}
{{- if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc:6379" (include "gitfaas.redisFullname" .) .Release.Namespace }}
{{- else }}
{{- .Values.redis.external.url }}
{{- end }}
{{- end }}

{{/* The Redis password: the value given, else the one already in the release's Secret, else a new random one. */}}
{{- define "gitfaas.redisPassword" -}}
{{- if .Values.redis.auth.password }}
{{- .Values.redis.auth.password }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "gitfaas.redisFullname" .) }}
{{- if and $existing $existing.data (hasKey $existing.data "redis-password") }}
{{- index $existing.data "redis-password" | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
{{- end }}

{{/* One log level for gitfaas: the more verbose of app.git.logLevel and app.apply.logLevel. */}}
{{- define "gitfaas.logLevel" -}}
{{- $rank := dict "debug" 0 "info" 1 "warn" 2 "warning" 2 "error" 3 "critical" 3 }}
{{- $names := list "debug" "info" "warn" "error" }}
{{- $best := 3 }}
{{- range $level := list .Values.app.git.logLevel .Values.app.apply.logLevel }}
{{- $key := lower (toString (default "info" $level)) }}
{{- if not (hasKey $rank $key) }}
{{- fail (printf "log level %q is not one of DEBUG, INFO, WARN, ERROR" (toString $level)) }}
{{- end }}
{{- $best = min $best (get $rank $key) }}
{{- end }}
{{- index $names (int $best) }}
{{- end }}

{{/* Refuses settings gitfaas would refuse at start (better now than in a crash loop). */}}
{{- define "gitfaas.validate" -}}
{{- if not .Values.app.git.url }}
{{- fail "app.git.url is required: the git repository gitfaas serves" }}
{{- end }}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*:[^/@]*@" .Values.app.git.url }}
{{- fail "app.git.url must not carry a password or token: set app.git.http.personalToken or app.git.http.existingSecret" }}
{{- end }}
{{- if not (has .Values.rbac.scope (list "namespaced" "clusterWide")) }}
{{- fail "rbac.scope must be namespaced or clusterWide" }}
{{- end }}
{{- if eq (include "gitfaas.gitMode" .) "ssh" }}
{{- if not .Values.app.git.sshKey.privKeySecretName }}
{{- fail "app.git.sshKey.privKeySecretName is required when app.git.sshKey.usePrivateKey is yes" }}
{{- end }}
{{- if and (eq (lower (toString .Values.app.git.sshKey.strictHostKeyChecking)) "yes") (not .Values.app.git.sshKey.knowHostsMultiLine) }}
{{- fail "app.git.sshKey.knowHostsMultiLine (ssh-keyscan <git host>) is required while app.git.sshKey.strictHostKeyChecking is yes" }}
{{- end }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not .Values.redis.external.url) }}
{{- fail "set redis.external.url, or redis.enabled=true for the bundled Redis" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (regexMatch "^rediss?://[^/@]*:[^/@]*@" .Values.redis.external.url) }}
{{- fail "redis.external.url must not carry a password: set redis.auth.password or redis.auth.existingSecret" }}
{{- end }}
{{- end }}
