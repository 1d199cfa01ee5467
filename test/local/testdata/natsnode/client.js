// The NATS client of test/local in a second language: nats.js (npm
// "nats", installed by hack/deps.sh; NODE_PATH points at it). One
// connection publishes, subscribes, requests and responds; it prints what
// it did and what nats.js counted, as JSON.
"use strict";
const { connect, StringCodec } = require("nats");

async function main() {
  const [url, n, m] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
  const nc = await connect({ servers: url, user: "alice", pass: "hunter2", name: "pixie-node" });
  const sc = StringCodec();
  let received = 0;
  nc.subscribe("orders.*", { callback: () => { received++; } });
  nc.subscribe("svc.add", { queue: "workers", callback: (err, msg) => { if (!err) msg.respond(sc.encode("3")); } });
  await nc.flush();
  // A flush every 20 messages keeps each write within the trace's capture.
  for (let i = 0; i < n; i++) {
    nc.publish("orders." + i, sc.encode(JSON.stringify({ id: i })));
    if (i % 20 === 19) await nc.flush();
  }
  await nc.flush();
  for (let i = 0; received < n; i++) {
    if (i === 500) throw new Error(`received ${received} of ${n}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  let requests = 0;
  for (let i = 0; i < m; i++) {
    const r = await nc.request("svc.add", sc.encode("1 2"), { timeout: 5000 });
    if (sc.decode(r.data) !== "3") throw new Error("bad reply " + sc.decode(r.data));
    requests++;
  }
  await nc.flush();
  const st = nc.stats();
  await nc.close();
  console.log(JSON.stringify({ published: n, requests, received, in_msgs: st.inMsgs, out_msgs: st.outMsgs }));
}

main().catch((e) => { console.error("natsnode:", e); process.exit(1); });
