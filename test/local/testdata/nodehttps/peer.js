// The Node.js HTTPS peer of test/local's Node TLS test: Node's own https
// server and client (Node's built-in OpenSSL, memory BIOs), each a
// separate process.
//
//   server KEY CERT      listens on 127.0.0.1:0, prints its port, serves until
//                        stdin closes, then prints the responses it ended as JSON
//   client PORT ROUNDS   waits for a line on stdin, then per round makes the
//                        keep-alive requests (two sockets) and one request on
//                        a connection of its own; prints the responses it read
//                        as JSON ("METHOD PATH STATUS": count)
'use strict';
const fs = require('fs');
const https = require('https');

const counts = {};
const count = (k) => { counts[k] = (counts[k] || 0) + 1; };

function serve(keyFile, certFile) {
  const srv = https.createServer({ key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) }, (req, res) => {
    const chunks = [];
    req.on('data', (b) => chunks.push(b));
    req.on('end', () => {
      let status = 200;
      let body;
      switch (req.url) {
        case '/small': case '/fresh': body = Buffer.from('hello over node tls\n'); break;
        case '/large': body = Buffer.alloc(64 * 1024, 'x'); break;
        case '/echo': body = Buffer.concat(chunks); break;
        default: status = 404; body = Buffer.from('not found\n');
      }
      res.writeHead(status, { 'Content-Length': body.length });
      res.end(body);
      count(`${req.method} ${req.url} ${status}`);
    });
  });
  srv.keepAliveTimeout = 60000;
  srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => {
    console.log(JSON.stringify(counts));
    process.exit(0);
  });
}

function request(agent, port, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, agent, rejectUnauthorized: false }, (res) => {
      let n = 0;
      res.on('data', (b) => { n += b.length; });
      res.on('end', () => {
        if (n !== Number(res.headers['content-length'])) {
          reject(new Error(`${path}: ${n} bytes of ${res.headers['content-length']}`));
          return;
        }
        count(`${method} ${path} ${res.statusCode}`);
        resolve();
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function client(port, rounds) {
  await new Promise((resolve) => process.stdin.once('data', resolve));
  const agent = new https.Agent({ keepAlive: true, maxSockets: 2 });
  for (let r = 0; r < rounds; r++) {
    await Promise.all([
      request(agent, port, 'GET', '/small'),
      request(agent, port, 'GET', '/large'),
      request(agent, port, 'POST', '/echo', Buffer.alloc(3000, 'p')),
      request(agent, port, 'GET', '/missing'),
    ]);
    await request(false, port, 'GET', '/fresh');
  }
  agent.destroy();
  console.log(JSON.stringify(counts));
  process.exit(0);
}

if (process.argv[2] === 'server') serve(process.argv[3], process.argv[4]);
else client(Number(process.argv[3]), Number(process.argv[4])).catch((e) => { console.error(e); process.exit(1); });
