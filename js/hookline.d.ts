// Types for hookline's page script (`hookline.js`), which defines `window.Hookline`.

/** The events a site can receive a webhook for. */
export type HooklineEvent =
  | 'notification.displayed'
  | 'notification.clicked'
  | 'notification.dismissed';

/** One URL per event; `https:`, or `http:` on loopback (localhost, 127.0.0.1, [::1]).
 *  `notification.willDisplay` (OneSignal v16's name) is taken for `notification.displayed`. */
export type HooklineWebhooks = {
  /** `false` (default): a simple `no-cors` POST, body as text/plain, no custom header.
   *  `true`: a CORS POST with `Content-Type: application/json` and `X-OneSignal-Event`. */
  cors?: boolean;
  /** `"v16"`: bodies in the form of OneSignal's current Web SDK (`HooklineWebhookBodyV16`);
   *  absent: the seed's (`HooklineWebhookBody`). */
  format?: 'v16';
  'notification.willDisplay'?: string;
} & { [event in HooklineEvent]?: string };

export interface HooklineInitOptions {
  appId: string;
  /** Where the site serves `hookline-sw.js` (default `/hookline-sw.js`). */
  serviceWorkerPath?: string;
  /** The id sent as `userId`; when absent one is generated once and kept. */
  userId?: string;
  webhooks?: HooklineWebhooks;
}

/** Rejections of `init` carry the refused option, e.g. `webhooks.cors`. */
export interface HooklineInitError extends Error {
  field?: string;
}

/** The body every webhook receives (fields the notification lacks are absent). */
export interface HooklineWebhookBody {
  event: HooklineEvent;
  id?: string;
  userId: string;
  heading?: string;
  content?: string;
  url?: string;
  icon?: string;
  data?: unknown;
  /** `notification.clicked` only: `""` for the body, else the button's id. */
  action?: string;
}

/** The body with `webhooks.format: "v16"` (fields the notification lacks are absent). */
export interface HooklineWebhookBodyV16 {
  event: 'notification.willDisplay' | 'notification.clicked' | 'notification.dismissed';
  notificationId?: string;
  heading?: string;
  content?: string;
  additionalData?: unknown;
  /** For a click on a button with a URL of its own, that URL. */
  url?: string;
  /** hookline's `userId`: the id given to `init`, or the one generated once per browser. */
  subscriptionId: string;
  /** `notification.clicked` only: `""` for the body, else the button's id. */
  actionId?: string;
}

/** hookline's push payload (OneSignal's minified form is read too). Each field is kept within a
 *  size bound (README); a payload over 65,536 characters gets a generic notification. */
export interface HooklinePushPayload {
  id?: string;
  heading?: string;
  content?: string;
  url?: string;
  icon?: string;
  data?: unknown;
  /** A button's `url` opens instead of the notification's when that button is clicked. */
  buttons?: { id: string; text?: string; icon?: string; url?: string }[];
}

export type HooklineCommand = ['init', HooklineInitOptions];

export interface HooklineApi {
  init(options: HooklineInitOptions): Promise<{ userId: string }>;
  push(command: HooklineCommand | (() => void)): void;
  /** Runs a payload through the worker's push handler, as a real push would (demos, tests). */
  demoPush(payload: HooklinePushPayload | string): Promise<unknown>;
  /** The user's id once `init` has resolved. */
  userId?: string;
}

declare global {
  /** Set by hookline.js; before it loads, a site may queue commands in an array. */
  // eslint-disable-next-line no-var
  var Hookline: HooklineApi;
}
