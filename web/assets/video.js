// Links to a moment of a video, and the embedded player for direct media.

const VIDEO_EXT = ['mp4', 'm4v', 'webm', 'ogv', 'mov', 'mkv'];
const AUDIO_EXT = ['mp3', 'm4a', 'aac', 'ogg', 'oga', 'opus', 'wav', 'flac', 'weba'];

function parse(raw) {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch {
    return null;
  }
}

function site(u) {
  const host = u.hostname.toLowerCase().replace(/\.$/, '');
  const is = (d) => host === d || host.endsWith('.' + d);
  if (is('youtube.com') || is('youtu.be') || is('youtube-nocookie.com')) return 'youtube';
  if (is('bilibili.com') || is('b23.tv')) return 'bilibili';
  return 'other';
}

/**
 * mediaKind says whether the URL is a direct media file the page can play
 * itself: "video", "audio" or "" (a page such as YouTube's).
 */
export function mediaKind(raw) {
  const u = parse(raw);
  if (!u || site(u) !== 'other') return '';
  const m = /\.([a-z0-9]{2,5})$/i.exec(u.pathname);
  if (!m) return '';
  const ext = m[1].toLowerCase();
  if (VIDEO_EXT.includes(ext)) return 'video';
  if (AUDIO_EXT.includes(ext)) return 'audio';
  return '';
}

/**
 * momentURL is the video's URL at second sec: &t= (or ?t=) for YouTube,
 * ?t= for Bilibili, a Media Fragment #t= for direct media and any other
 * page. It returns null for what is not an http(s) URL.
 */
export function momentURL(raw, sec) {
  const u = parse(raw);
  if (!u) return null;
  const s = String(Math.max(0, Math.floor(sec)));
  switch (site(u)) {
    case 'youtube':
    case 'bilibili':
      u.searchParams.set('t', s);
      u.hash = '';
      break;
    default:
      u.hash = 't=' + s;
  }
  return u.href;
}

/**
 * player makes a <video> or <audio> element for direct media, or returns
 * null. The element plays from the media's own origin (CSP media-src).
 */
export function player(raw) {
  const kind = mediaKind(raw);
  const u = parse(raw);
  if (!kind || !u) return null;
  const p = document.createElement(kind);
  p.controls = true;
  p.preload = 'metadata';
  p.src = u.href;
  p.id = 'media';
  return p;
}
