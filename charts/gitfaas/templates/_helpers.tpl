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
{{- $host := include "gitfaas.sshHost" . }}
{{- $shipped := splitList " " (include "gitfaas.shippedHosts" .) }}
{{- if and (eq (lower (toString .Values.app.git.sshKey.strictHostKeyChecking)) "yes") (not .Values.app.git.sshKey.knowHostsMultiLine) (not (has $host $shipped)) }}
{{- fail (printf "app.git.sshKey.knowHostsMultiLine (ssh-keyscan %s, checked against the fingerprints %s publishes) is required while app.git.sshKey.strictHostKeyChecking is yes: the chart ships the host keys of %s only" $host $host (join ", " $shipped)) }}
{{- end }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not .Values.redis.external.url) }}
{{- fail "set redis.external.url, or redis.enabled=true for the bundled Redis" }}
{{- end }}
{{- if and (not .Values.redis.enabled) (regexMatch "^rediss?://[^/@]*:[^/@]*@" .Values.redis.external.url) }}
{{- fail "redis.external.url must not carry a password: set redis.auth.password or redis.auth.existingSecret" }}
{{- end }}
{{- end }}

{{/*
The Service lambdas call. "gitfaas" whatever the release name: lambdas written for the original chart call
http://gitfaas:5000 and gitfaas.<namespace>.svc.cluster.local:5000. Empty: the release's full name.
*/}}
{{- define "gitfaas.serviceName" -}}
{{- default (include "gitfaas.fullname" .) .Values.service.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The URL lambdas get ({{PAYLOAD_URL}}): the Service above unless app.publicUrl says otherwise. */}}
{{- define "gitfaas.publicUrl" -}}
{{- default (printf "http://%s.%s.svc:%v" (include "gitfaas.serviceName" .) .Release.Namespace .Values.service.port) .Values.app.publicUrl }}
{{- end }}

{{/* Replicas: the original chart's install.replicas when given, else replicaCount. */}}
{{- define "gitfaas.replicas" -}}
{{- $install := .Values.install | default dict }}
{{- if and (kindIs "map" $install) (hasKey $install "replicas") (not (kindIs "invalid" $install.replicas)) }}
{{- $install.replicas | int }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/* The original's redis.master.persistence.<key> (its Bitnami subchart) when given, else redis.persistence.<key>. */}}
{{- define "gitfaas.redisPersistence" -}}
{{- $master := (.root.Values.redis.master | default dict) }}
{{- $legacy := (and (kindIs "map" $master) (get $master "persistence")) | default dict }}
{{- if and (kindIs "map" $legacy) (hasKey $legacy .key) (not (kindIs "invalid" (get $legacy .key))) }}
{{- get $legacy .key | toString }}
{{- else }}
{{- get .root.Values.redis.persistence .key | toString }}
{{- end }}
{{- end }}

{{/* The original's images.pullPolicy when given, else image.pullPolicy. */}}
{{- define "gitfaas.pullPolicy" -}}
{{- $images := .Values.images | default dict }}
{{- if and (kindIs "map" $images) $images.pullPolicy }}{{ $images.pullPolicy }}{{ else }}{{ .Values.image.pullPolicy }}{{ end }}
{{- end }}

{{/* Dotted paths of the leaves under .value, one a line, each after a newline. */}}
{{- define "gitfaas.leaves" -}}
{{- if and (kindIs "map" .value) (gt (len .value) 0) }}
{{- range $key, $value := .value }}
{{- include "gitfaas.leaves" (dict "prefix" (printf "%s.%s" $.prefix $key) "value" $value) }}
{{- end }}
{{- else }}
{{ .prefix }}
{{- end }}
{{- end }}

{{/*
Keys of the original chart's values.yaml given here, as lines "<old key> -> <new key>" (mapped) or
"<old key>" (ignored: nothing here means it). NOTES.txt prints them.
*/}}
{{- define "gitfaas.legacyKeys" -}}
{{- $mapped := dict "install.replicas" "replicaCount" "images.pullPolicy" "image.pullPolicy" "redis.master.persistence.size" "redis.persistence.size" "redis.master.persistence.enabled" "redis.persistence.enabled" "redis.master.persistence.storageClass" "redis.persistence.storageClass" }}
{{- $given := list }}
{{- range $top := list "install" "images" }}
{{- if hasKey $.Values $top }}
{{- $given = concat $given (splitList "\n" (include "gitfaas.leaves" (dict "prefix" $top "value" (get $.Values $top)))) }}
{{- end }}
{{- end }}
{{- range $sub := list "master" "replica" "purge_trigger_time" }}
{{- if hasKey $.Values.redis $sub }}
{{- $given = concat $given (splitList "\n" (include "gitfaas.leaves" (dict "prefix" (printf "redis.%s" $sub) "value" (get $.Values.redis $sub)))) }}
{{- end }}
{{- end }}
{{- range $key := compact $given }}
{{- if hasKey $mapped $key }}
mapped {{ $key }} -> {{ get $mapped $key }}
{{- else }}
ignored {{ $key }}
{{- end }}
{{- end }}
{{- end }}

{{/* The host of an SSH git URL (git@host:path, ssh://[user@]host[:port]/path), lower case; with a port other than 22, "[host]:port" as known_hosts writes it. */}}
{{- define "gitfaas.sshHost" -}}
{{- $url := .Values.app.git.url }}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://" $url }}
{{- $hostPort := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?([^/]*).*$" $url "${1}" | lower }}
{{- $host := regexReplaceAll ":[0-9]*$" $hostPort "" }}
{{- $port := regexReplaceAll "^[^:]*:?" $hostPort "" }}
{{- if or (eq $port "") (eq $port "22") }}{{ $host }}{{ else }}[{{ $host }}]:{{ $port }}{{ end }}
{{- else }}
{{- regexReplaceAll "^(?:[^@/:]*@)?([^:/]*).*$" $url "${1}" | lower }}
{{- end }}
{{- end }}

{{/* Hosts whose published keys the chart ships in files/known_hosts. */}}
{{- define "gitfaas.shippedHosts" -}}
{{- $hosts := list }}
{{- range $line := splitList "\n" (.Files.Get "files/known_hosts") }}
{{- if and $line (not (hasPrefix "#" $line)) }}
{{- $hosts = append $hosts (first (splitList " " $line)) }}
{{- end }}
{{- end }}
{{- uniq $hosts | join " " }}
{{- end }}

{{/*
The known_hosts gitfaas gets in SSH mode: app.git.sshKey.knowHostsMultiLine when set (it replaces the
shipped keys, so a user can trust fewer hosts), else, while strictHostKeyChecking is yes, the published
keys of github.com, gitlab.com and bitbucket.org (files/known_hosts), as the original trusted GitHub and
GitLab by default. Empty: no known_hosts (strictHostKeyChecking no).
*/}}
{{- define "gitfaas.knownHosts" -}}
{{- if eq (include "gitfaas.gitMode" .) "ssh" }}
{{- if .Values.app.git.sshKey.knowHostsMultiLine }}
{{- .Values.app.git.sshKey.knowHostsMultiLine | trim }}
{{- else if eq (lower (toString .Values.app.git.sshKey.strictHostKeyChecking)) "yes" }}
{{- .Files.Get "files/known_hosts" | trim }}
{{- end }}
{{- end }}
{{- end }}
