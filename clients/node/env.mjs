// What app/nodeclients_test.go hands the suites in test/: a running Recap (API and
// worker on loopback), a key, and a video page on its loopback host.
import assert from 'node:assert/strict';

export const baseURL = process.env.RECAP_BASE_URL; // e.g. http://127.0.0.1:41234
export const apiKey = process.env.RECAP_API_KEY;
export const videoURL = process.env.RECAP_VIDEO_URL;

if (!baseURL || !apiKey || !videoURL) {
  throw new Error('RECAP_BASE_URL, RECAP_API_KEY and RECAP_VIDEO_URL must be set: run these tests through `go test ./app/ -run TestNodeClients`');
}

// A summary of the test video: the fake model's markdown, with the
// timestamps of the video's subtitles.
export function assertSummary(text) {
  assert.equal(typeof text, 'string');
  assert.match(text, /\[00:01\]/, `no [00:01] timestamp in:\n${text}`);
  assert.match(text, /Recap test video/, `not the test video's summary:\n${text}`);
}
