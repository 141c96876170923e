# syntax=docker/dockerfile:1
# gitfaas server image: `docker build -t gitfaas/gitfaas:0.1.0 .`
# Runs as UID/GID 10001 (the chart's podSecurityContext), on a read-only root filesystem: write only
# to --data-dir (the chart mounts an emptyDir at /data) and $HOME (/tmp).

FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles when no prebuilt binary fits.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The dashboard (/ui): bundled by esbuild into dist/ui, served from there.
COPY ui ./ui
COPY scripts/build-ui.mjs scripts/stamp-version.mjs ./scripts/
# No .git in the build context: pass the commit to stamp (see scripts/stamp-version.mjs).
ARG GITFAAS_REVISION=""
RUN GITFAAS_REVISION="$GITFAAS_REVISION" npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
# git fetches the repository; openssh-client for ssh:// and git@host:path remotes.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --gid 10001 gitfaas \
  && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gitfaas
WORKDIR /app
# GITFAAS_REQUIRE_REPO: without GITFAAS_REPO (or the original's GIT_URL) the image refuses to start
# instead of serving the bundled example pipeline, which is still copied for `gitfaas lint` and docs.
ENV NODE_ENV=production HOME=/tmp GITFAAS_REQUIRE_REPO=yes
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY examples ./examples
USER 10001:10001
EXPOSE 5000
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
