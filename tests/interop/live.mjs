// Subscribes to liveHours with the standard `graphql-ws` client (what browser and Node
// integrators use) and prints each result as one JSON line; exits 0 after COUNT results.
// Inputs come from the environment: CREWTIME_WS_URL, CREWTIME_TOKEN, CREWTIME_PRODUCTION,
// CREWTIME_DATE, COUNT.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return v;
};

const count = Number(env('COUNT'));
const client = createClient({
  url: env('CREWTIME_WS_URL'),
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${env('CREWTIME_TOKEN')}` },
  retryAttempts: 0,
});
// A hung subscription must fail the check, not hang it.
setTimeout(() => {
  console.error('timed out');
  process.exit(3);
}, 20000).unref();

const query = `subscription($p: ID!, $d: NaiveDate!) {
  liveHours(productionId: $p, date: $d) { kind crew { crewMemberId status version } }
}`;
let seen = 0;
try {
  for await (const result of client.iterate({
    query,
    variables: { p: env('CREWTIME_PRODUCTION'), d: env('CREWTIME_DATE') },
  })) {
    console.log(JSON.stringify(result));
    seen += 1;
    if (seen >= count) break;
  }
} catch (e) {
  console.error('subscription failed:', e instanceof Error ? e.message : JSON.stringify(e));
  process.exit(1);
}
await client.dispose();
process.exit(seen >= count ? 0 : 4);
