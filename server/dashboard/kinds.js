// The event kinds a webhook can be triggered by that hookline knows of: OneSignal's, and the
// browser bridge's. Custom kinds and `prefix.*` patterns are allowed too.
export const KINDS = [
  'message.push.sent', 'message.push.received', 'message.push.clicked', 'message.push.failed',
  'message.push.unsubscribed',
  'message.iam.displayed', 'message.iam.clicked', 'message.iam.pagedisplayed',
  'message.email.sent', 'message.email.received', 'message.email.opened', 'message.email.clicked',
  'message.email.unsubscribed', 'message.email.reported_as_spam', 'message.email.hardbounced',
  'message.email.failed', 'message.email.suppressed',
  'message.sms.sent', 'message.sms.delivered', 'message.sms.failed',
  // From the browser half, through the bridge.
  'message.push.displayed', 'message.push.dismissed',
];

/** Patterns offered next to the kinds. */
export const PATTERNS = ['message.push.*', 'message.iam.*', 'message.email.*', 'message.sms.*', '*'];

/** A trigger the server accepts: a kind, `prefix.*` or `*`. */
export function validTrigger(text) {
  return /^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/.test(text);
}
