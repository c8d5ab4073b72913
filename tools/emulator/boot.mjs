// Boot a Raspberry Pi Pico (W) .uf2 in the rp2040js emulator and bridge its USB
// serial (CDC) to this process's stdin/stdout, byte for byte.
//
//   node boot.mjs --uf2 firmware.uf2 --bootrom rp2040-bootrom-b1.ts [--adc 4=14019 ...]
//                 [--gpio 15=1 ...] [--watch 16 ...] [--control FD]
//
// stdout: what the board writes to its USB serial (the REPL), raw bytes.
// stdin:  bytes for the board; queued and fed into the 512-byte host-to-device
//         FIFO only as it drains, so long input (raw REPL code) is never dropped.
// stderr: one line per harness event: "@connected" once USB enumerated;
//         "@gpio N V" when a watched pin's level changes (V 0 or 1);
//         "@watchdog reason=N at_ms=T" the first time the watchdog fires (REASON: 1 its
//         timer ran out, 2 a forced reboot: machine.reset(), deepsleep()'s end), at
//         emulated ms T. The emulator does not reboot the chip then.
// --control FD: a file descriptor (a pipe the harness passed) whose lines "gpio N V"
//         set what input pin N reads from then on (a button pressed, released).
// --adc CH=VALUE sets what ADC channel CH reads (12-bit, as the RP2040 converts).
// --gpio N=V sets what pin N reads from the start (the emulator models no pull-ups:
//         an input nothing drives reads 0).
// --watch N reports pin N's level changes on stderr.
//
// The B1 boot ROM is read at run time from the TypeScript array rp2040js keeps in
// its demo (never committed here). Flash writes are not modelled, so the image
// runs without a filesystem; frozen modules work.

import { createReadStream, readFileSync } from 'node:fs';
import { Simulator, USBCDC, ConsoleLogger, LogLevel } from 'rp2040js';

const FLASH_START = 0x10000000;
const UF2_MAGIC0 = 0x0a324655;
const UF2_MAGIC1 = 0x9e5d5157;
const FIFO_SIZE = 512;

function args(argv) {
  const out = { adc: [], gpio: [], watch: [] };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (key in out && Array.isArray(out[key])) out[key].push(argv[i + 1]);
    else out[key] = argv[i + 1];
  }
  if (!out.uf2 || !out.bootrom) {
    process.stderr.write('usage: boot.mjs --uf2 FILE --bootrom FILE [--adc CH=VALUE] '
      + '[--gpio N=V] [--watch N] [--control FD]\n');
    process.exit(2);
  }
  return out;
}

function loadBootrom(path) {
  const text = readFileSync(path, 'utf8');
  const body = text.slice(text.indexOf('Uint32Array(['));
  const words = body.match(/0x[0-9a-fA-F]+/g).map((w) => parseInt(w, 16));
  return new Uint32Array(words);
}

function loadUF2(path, mcu) {
  const data = readFileSync(path);
  let blocks = 0;
  for (let off = 0; off + 512 <= data.length; off += 512) {
    const view = new DataView(data.buffer, data.byteOffset + off, 512);
    if (view.getUint32(0, true) !== UF2_MAGIC0 || view.getUint32(4, true) !== UF2_MAGIC1) {
      throw new Error(`not a UF2 block at offset ${off}`);
    }
    const addr = view.getUint32(12, true);
    const size = view.getUint32(16, true);
    mcu.flash.set(data.subarray(off + 32, off + 32 + size), addr - FLASH_START);
    blocks++;
  }
  return blocks;
}

const opts = args(process.argv);
const simulator = new Simulator();
const mcu = simulator.rp2040;
mcu.logger = new ConsoleLogger(LogLevel.Error);
mcu.loadBootrom(loadBootrom(opts.bootrom));
loadUF2(opts.uf2, mcu);
for (const spec of opts.adc) {
  const [ch, value] = spec.split('=').map(Number);
  mcu.adc.channelValues[ch] = value;
}

for (const spec of opts.gpio) {
  const [pin, value] = spec.split('=').map(Number);
  mcu.gpio[pin].setInputValue(value !== 0);
}
for (const pin of opts.watch.map(Number)) {
  let level = mcu.gpio[pin].outputValue;
  mcu.gpio[pin].addListener(() => {
    const now = mcu.gpio[pin].outputValue;
    if (now !== level) {
      level = now;
      process.stderr.write(`@gpio ${pin} ${now ? 1 : 0}\n`);
    }
  });
}
{
  const wd = mcu.peripherals[0x40058];
  let fired = false;
  wd.onWatchdogTrigger = () => {
    if (fired) return;
    fired = true;
    const ms = Math.round(Number(mcu.clock.nanos || 0) / 1e6);
    process.stderr.write(`@watchdog reason=${wd.reason} at_ms=${ms}\n`);
  };
}
if (opts.control !== undefined) {
  const control = createReadStream(null, { fd: Number(opts.control) });
  let rest = '';
  control.on('data', (chunk) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop();
    for (const line of lines) {
      const [cmd, pin, value] = line.trim().split(/\s+/);
      if (cmd === 'gpio') mcu.gpio[Number(pin)].setInputValue(Number(value) !== 0);
      else if (line.trim()) process.stderr.write(`@error unknown control line: ${line}\n`);
    }
  });
}

const cdc = new USBCDC(mcu.usbCtrl);
const pending = [];
function feed() {
  while (pending.length && cdc.txFIFO.itemCount < FIFO_SIZE) {
    cdc.sendSerialByte(pending.shift());
  }
}
cdc.onDeviceConnected = () => process.stderr.write('@connected\n');
cdc.onSerialData = (buffer) => process.stdout.write(Buffer.from(buffer));
process.stdin.on('data', (chunk) => {
  for (const b of chunk) pending.push(b);
  feed();
});
process.stdin.on('end', () => process.exit(0));
setInterval(feed, 2);

mcu.core.PC = FLASH_START;
simulator.execute();
