"""Recap's warm yt-dlp: one Python process that imports yt_dlp once and then
runs yt-dlp command lines sent to it, one at a time, each as the yt-dlp
program would run it, without paying Python's start-up and yt-dlp's imports
again.

The worker starts it (media/pool.go) with ``python3 -I -B extractor.py``
and speaks JSON lines over its standard input and output:

    request  {"id": 1, "argv": ["--ignore-config", ..., "--", "https://..."],
              "max_stdout": 67108864}
    reply    {"id": 1, "code": 0, "stdout": "...", "stderr": "...",
              "rss": 123456789}

``argv`` is exactly the argument list go-ytdlp built for the yt-dlp program
(without the program's name). It is parsed by yt-dlp's own parser
(``yt_dlp.parse_options``) and run by a ``YoutubeDL`` made for this request
alone and closed after it, so nothing a request sets (its proxy and the
proxy's credentials, its cookie file, headers, options) is seen by the
next. ``stdout`` and ``stderr`` are what yt-dlp printed, ``code`` its exit
status, in the shapes the yt-dlp program gives them.

Before the first request it prints {"ready": true, "version": "...",
"pid": ...}. Nothing but replies is ever written to the reply pipe: the
process's own file descriptors 0 and 1 are pointed elsewhere (stray output
of yt-dlp or of programs it starts lands on stderr, which the worker
keeps for its logs).

It uses nothing but the Python standard library and Debian's yt_dlp.
"""

import io
import json
import os
import sys
import traceback

# No plugins, ever: neither from yt-dlp's default directories nor from
# anywhere a request names (requests carrying plugin directories are
# refused below).
os.environ['YTDLP_NO_PLUGINS'] = '1'

# The protocol's pipes are private copies of fds 0 and 1; the originals
# become /dev/null (input) and stderr (output).
_proto_in = os.fdopen(os.dup(0), 'rb')
_proto_out = os.fdopen(os.dup(1), 'wb')
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)
os.dup2(2, 1)
sys.stdin = open(os.devnull, encoding='utf-8')

import optparse  # noqa: E402

import yt_dlp  # noqa: E402
from yt_dlp import YoutubeDL, parse_options  # noqa: E402
from yt_dlp.globals import IN_CLI, plugin_dirs  # noqa: E402
from yt_dlp.utils import DownloadCancelled, DownloadError, SameFileError  # noqa: E402

try:
    from yt_dlp.cookies import CookieLoadError
except ImportError:  # older yt-dlp
    CookieLoadError = DownloadError
try:
    from yt_dlp.utils import UnsafeExecExpansionError  # newer yt-dlp
except ImportError:
    UnsafeExecExpansionError = DownloadError

plugin_dirs.value = []
# Usage lines name the program as the yt-dlp program does.
sys.argv[0] = 'yt-dlp'
# Messages as the yt-dlp program prints them (no "API" in the version
# banner, deprecation warnings once).
IN_CLI.value = True

_REAL_STDERR = sys.stderr


# A YoutubeDL spends a third of a warm request choosing its extractors
# (an ordered set over some 1,800 names, matched against the
# --use-extractors patterns). The choice depends on that option alone, so
# it is made once per value and kept: what is kept is a list of classes
# (code). The instances a YoutubeDL holds (the catch-all "end" extractor,
# every extractor it uses) are still made for it alone.
_chosen_ies = {}
_choose_ies = YoutubeDL.add_default_info_extractors


def _add_default_info_extractors(self):
    key = tuple(self.params.get('allowed_extractors', ['default']))
    chosen = _chosen_ies.get(key)
    if chosen is None:
        _choose_ies(self)
        _chosen_ies[key] = [(k, ie if isinstance(ie, type) else type(ie), not isinstance(ie, type))
                            for k, ie in self._ies.items()]
        return
    for ie_key, cls, instance in chosen:
        if instance:
            self.add_info_extractor(cls())
        else:
            self._ies[ie_key] = cls
    self.write_debug(f'Loaded {len(chosen)} extractors')


if hasattr(YoutubeDL, 'add_info_extractor'):
    YoutubeDL.add_default_info_extractors = _add_default_info_extractors


# Every request's HTTPS handler gets an SSL context of its own, into which
# yt-dlp loads the CA bundle named by certifi: parsing the whole bundle
# is another third of a warm request. Debian's certifi names the system
# bundle, /etc/ssl/certs/ca-certificates.crt, which update-ca-certificates
# writes from the same certificates as the hashed directory beside it;
# there, the context is pointed at the directory instead, from which
# OpenSSL reads the certificates a verification needs when it needs them.
# The trusted set is the same, each request still has its own context,
# and anywhere else nothing changes.
def _use_hashed_ca_directory():
    try:
        import certifi
        from yt_dlp.networking import _helper
    except ImportError:
        return
    capath = '/etc/ssl/certs'
    try:
        if os.path.realpath(certifi.where()) != os.path.realpath(os.path.join(capath, 'ca-certificates.crt')):
            return
        if not any(len(n) == 10 and n.endswith('.0') for n in os.listdir(capath)):
            return  # not hashed (c_rehash never ran)
    except OSError:
        return
    load_certs = _helper.ssl_load_certs

    def ssl_load_certs(context, use_certifi=True):
        if use_certifi and getattr(_helper, 'certifi', None):
            context.load_verify_locations(capath=capath)
        else:
            load_certs(context, use_certifi)

    _helper.ssl_load_certs = ssl_load_certs


_use_hashed_ca_directory()


class CappedSink(io.RawIOBase):
    """Keeps the first ``cap`` bytes written (or, with tail, the last ones)."""

    def __init__(self, cap, tail=False):
        super().__init__()
        self.cap, self.tail, self.buf = cap, tail, bytearray()

    def writable(self):
        return True

    def write(self, b):
        if self.tail:
            self.buf += b
            if len(self.buf) > self.cap:
                del self.buf[:len(self.buf) - self.cap // 2]
        elif len(self.buf) < self.cap:
            self.buf += bytes(b[:self.cap - len(self.buf)])
        return len(b)


def _text(sink):
    """A text stream over sink that yt-dlp's write_string writes into."""
    return io.TextIOWrapper(io.BufferedWriter(sink), encoding='utf-8', errors='replace',
                            line_buffering=True, write_through=True)


def _rss():
    try:
        with open('/proc/self/statm', 'rb') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run(argv):
    """Runs one yt-dlp command line; returns its exit status. Mirrors
    yt_dlp._real_main and yt_dlp.main for the options Recap uses and
    refuses the ones that act on the installation rather than on URLs."""
    try:
        parser, opts, all_urls, ydl_opts = parse_options(argv)
        if opts.plugin_dirs:
            sys.stderr.write('ERROR: the warm extractor loads no plugins; --plugin-dirs is refused\n')
            return 2
        if (opts.update_self or opts.rm_cachedir or opts.list_impersonate_targets
                or opts.list_extractors or opts.list_extractor_descriptions or opts.ap_list_mso):
            sys.stderr.write('ERROR: the warm extractor only runs extractions and downloads\n')
            return 2
        if not all_urls and opts.load_info_filename is None:
            parser.error('You must provide at least one URL.')
        with YoutubeDL(ydl_opts) as ydl:
            try:
                if opts.load_info_filename is not None:
                    if all_urls:
                        ydl.report_warning('URLs are ignored due to --load-info-json')
                    return ydl.download_with_info_file(os.path.expanduser(opts.load_info_filename))
                return ydl.download(all_urls)
            except DownloadCancelled:
                ydl.to_screen('Aborting remaining downloads')
                return 101
    except (CookieLoadError, DownloadError, UnsafeExecExpansionError):
        return 1
    except SameFileError as e:
        sys.stderr.write(f'ERROR: {e}')
        return 1
    except optparse.OptParseError as e:
        sys.stderr.write(f'\n{e}')
        return 2
    except SystemExit as e:  # optparse's parser.error, sys.exit in yt-dlp
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code
        sys.stderr.write(str(e.code))
        return 1


def serve_one(req):
    out = CappedSink(int(req.get('max_stdout') or 64 << 20))
    err = CappedSink(1 << 20, tail=True)
    sys.stdout, sys.stderr = _text(out), _text(err)
    try:
        code = run([str(a) for a in req['argv']])
    except BaseException:  # a crash in yt-dlp is the request's, not the process's
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        sys.stdout, sys.stderr = _REAL_STDERR, _REAL_STDERR
    return {
        'id': req.get('id'),
        'code': code if isinstance(code, int) else 1,
        'stdout': out.buf.decode('utf-8', 'replace'),
        'stderr': err.buf.decode('utf-8', 'replace'),
        'rss': _rss(),
    }


def send(msg):
    _proto_out.write(json.dumps(msg, ensure_ascii=False).encode('utf-8', 'replace') + b'\n')
    _proto_out.flush()


def warm_up():
    """Does once what the first request would otherwise pay for: the option
    parser, the import of every extractor class (the generic extractor asks
    each of them for embeds) and their URL and embed patterns. Nothing
    touches the network: the generic extractor looks for embeds in a page
    held in memory."""
    sink = CappedSink(1 << 16)
    sys.stdout = sys.stderr = _text(sink)
    try:
        _, _, _, opts = parse_options(['--ignore-config', '--no-plugin-dirs', '--dump-json', '--skip-download',
                                       '--proxy', 'http://127.0.0.1:9', '--', 'http://127.0.0.1/'])
        with YoutubeDL(opts) as ydl:
            for ie in ydl._ies.values():
                ie.suitable('http://127.0.0.1/')
            page = '<!DOCTYPE html><html><head><title>t</title></head><body><video src="v.webm"></video></body></html>'
            list(ydl.get_info_extractor('Generic')._extract_embeds('http://127.0.0.1/warm-up', page))
    except BaseException:
        traceback.print_exc(file=_REAL_STDERR)
    finally:
        sys.stdout, sys.stderr = _REAL_STDERR, _REAL_STDERR


def main():
    if os.environ.get('RECAP_EXTRACTOR_WARMUP', '1') != '0':
        warm_up()
    send({'ready': True, 'version': yt_dlp.version.__version__, 'pid': os.getpid()})
    for line in _proto_in:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            send({'id': None, 'code': 2, 'stdout': '', 'stderr': f'ERROR: bad request: {e}\n', 'rss': _rss()})
            continue
        send(serve_one(req))


if __name__ == '__main__':
    main()
