package media_test

import "testing"

var youtubeCases = siteTable("youtube", []keyCase{
	{"watch", "https://www.youtube.com/watch?v=dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"watch extra params", "https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=42s&list=PL123", "youtube:dQw4w9WgXcQ"},
	{"watch mobile", "https://m.youtube.com/watch?v=dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"watch music", "https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=xyz", "youtube:dQw4w9WgXcQ"},
	{"watch no www http", "http://youtube.com/watch?v=dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"youtu.be", "https://youtu.be/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"youtu.be si", "https://youtu.be/dQw4w9WgXcQ?si=AbCdEf&t=10", "youtube:dQw4w9WgXcQ"},
	{"shorts", "https://www.youtube.com/shorts/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"embed", "https://www.youtube.com/embed/dQw4w9WgXcQ?autoplay=1", "youtube:dQw4w9WgXcQ"},
	{"nocookie embed", "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"live", "https://www.youtube.com/live/dQw4w9WgXcQ?feature=shared", "youtube:dQw4w9WgXcQ"},
	{"v path", "https://www.youtube.com/v/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"e path", "https://www.youtube.com/e/dQw4w9WgXcQ", "youtube:dQw4w9WgXcQ"},
	{"id with dash underscore", "https://youtu.be/a-b_c-d_e-f", "youtube:a-b_c-d_e-f"},
	{"channel is generic", "https://www.youtube.com/@someone", genericKey("https://www.youtube.com/@someone")},
	{"playlist is generic", "https://www.youtube.com/playlist?list=PL123", genericKey("https://www.youtube.com/playlist?list=PL123")},
	{"bad id is generic", "https://youtu.be/short", genericKey("https://youtu.be/short")},
	{"youtu.be root is generic", "https://youtu.be/", genericKey("https://youtu.be/")},
	{"watch without v", "https://www.youtube.com/watch?x=1", genericKey("https://www.youtube.com/watch?x=1")},
})

func TestSiteYoutube(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "youtube", youtubeCases)
}
