// The Node.js HTTP peer of test/local's chunked-body test: Node's own
// http server and client, each a separate process.
//
//   server             listens on 127.0.0.1:0, prints its port, serves until
//                      stdin closes, then prints the responses it ended as JSON
//   client PORT ROUNDS asks ROUNDS times for every size both ways on keep-alive
//                      connections, prints the responses it read as JSON
//
// /one/N answers N bytes with res.end(buf) after writeHead: chunked, one
// writev of headers, chunk size, body and the last chunk. /many/N/C writes
// them with res.write in pieces of C bytes (one chunk each) in one tick,
// then ends: Node gathers them into writevs of many chunks, each larger
// than the capture.
'use strict';
const http = require('http');

const sizes = [5 * 1024, 70 * 1024, 300 * 1024, 1024 * 1024];
// [N, C] of /many: chunks of 5 KB to 1 MB.
const pieces = [[5 * 1024, 5 * 1024], [70 * 1024, 5000], [300 * 1024, 16 * 1024], [2 * 1024 * 1024, 1000 * 1000]];
const counts = {};
const count = (k) => { counts[k] = (counts[k] || 0) + 1; };

function serve() {
  const srv = http.createServer((req, res) => {
    const [, how, n, c] = req.url.split('/');
    const body = Buffer.alloc(Number(n), 'x');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    if (how === 'one') {
      res.end(body);
    } else {
      const k = Number(c);
      for (let i = 0; i < body.length; i += k) res.write(body.subarray(i, i + k));
      res.end();
    }
    count(`GET /${how} 200`);
  });
  srv.keepAliveTimeout = 60000;
  srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => {
    console.log(JSON.stringify(counts));
    process.exit(0);
  });
}

function get(agent, port, path, want) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let n = 0;
      res.on('data', (b) => { n += b.length; });
      res.on('end', () => {
        if (n !== want || res.headers['transfer-encoding'] !== 'chunked') {
          reject(new Error(`${path}: ${n} bytes, ${res.headers['transfer-encoding']}`));
          return;
        }
        count(`GET /${path.split('/')[1]} ${res.statusCode}`);
        resolve();
      });
    }).on('error', reject);
  });
}

async function client(port, rounds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < sizes.length; i++) {
      const [n, c] = pieces[i];
      await Promise.all([get(agent, port, `/one/${sizes[i]}`, sizes[i]), get(agent, port, `/many/${n}/${c}`, n)]);
    }
  }
  agent.destroy();
  console.log(JSON.stringify(counts));
}

if (process.argv[2] === 'server') serve();
else client(Number(process.argv[3]), Number(process.argv[4])).catch((e) => { console.error(e); process.exit(1); });
