// The Node.js workload of the profile tests (run with --perf-basic-prof):
// a hot and a cold function, JIT-compiled, named through /tmp/perf-PID.map.
function hotLoop(n) { let x = 1; for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) % 2147483647; } return x; }
function coldLoop(n) { let s = 0; for (let i = 0; i < n; i++) { s += Math.sqrt(i); } return s; }
const end = Date.now() + 1000 * Number(process.argv[2] || 5);
let sink = 0;
while (Date.now() < end) { sink += hotLoop(3e6); sink += coldLoop(1e6); }
console.log(JSON.stringify({ ok: sink > 0 }));
