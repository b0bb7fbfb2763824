// What an operator writes instead of Switchboard, in Node.js: the Express
// handler of MySMSGate's webhook guide (shared/seeds/003), pointed at
// Twilio's status callback (a form, hence urlencoded instead of json),
// extended to verify X-Twilio-Signature (as Twilio's validateRequest does)
// and to append the event to a file. The guide's console.log lines are
// left out: they would only slow it down. Run with plain `node`.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const express = require('express');

const AUTH_TOKEN = process.env.TWILIO_AUTH_TOKEN;
// The URL Twilio called (behind a proxy, not the one Express sees).
const PUBLIC_URL = process.env.PUBLIC_URL || 'https://hooks.example.com';
const EVENTS_FILE = process.env.EVENTS_FILE;
// FSYNC=1: make the event durable before answering, like Switchboard.
const FSYNC = process.env.FSYNC === '1';

// Twilio: base64(HMAC-SHA1(auth token, URL + each POST parameter's name and
// value, sorted by name)).
function validSignature(url, params, signature) {
  const data = Object.keys(params).sort().reduce((acc, k) => acc + k + params[k], url);
  const expected = crypto.createHmac('sha1', AUTH_TOKEN).update(data, 'utf8').digest('base64');
  const a = Buffer.from(expected);
  const b = Buffer.from(signature || '');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

async function append(line) {
  if (!FSYNC) return fs.promises.appendFile(EVENTS_FILE, line);
  const fh = await fs.promises.open(EVENTS_FILE, 'a');
  try {
    await fh.write(line);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const app = express();
app.use(express.urlencoded({ extended: false, limit: '1mb' }));

app.post('/api/v1/smsCallback', async (req, res) => {
  if (!validSignature(PUBLIC_URL + req.originalUrl, req.body, req.get('X-Twilio-Signature'))) {
    return res.sendStatus(403);
  }
  const event = {
    provider: 'twilio',
    message_id: req.body.MessageSid,
    status: req.body.MessageStatus,
    received_at: Date.now() / 1000,
    params: req.body,
  };
  await append(JSON.stringify(event) + '\n');
  res.status(200).end();
});

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
