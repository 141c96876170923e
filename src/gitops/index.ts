export type { GitAuth } from "./auth.js";
export {
  GitSync,
  type GitSyncOptions,
  type Revision,
  type SyncOutcome,
  type SyncStatus,
} from "./git-sync.js";
export { parsePollInterval } from "./poll-interval.js";
export { checkRepoSetting, displayRepo } from "./source.js";
export { verifyWebhook, type WebhookEvent, type WebhookProvider } from "./webhooks.js";
