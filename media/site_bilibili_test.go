package media_test

import "testing"

var bilibiliCases = siteTable("bilibili", []keyCase{
	{"bv", "https://www.bilibili.com/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv trailing slash", "https://www.bilibili.com/video/BV1Sk4y1x7r2/", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv no www", "https://bilibili.com/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv mobile", "https://m.bilibili.com/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv http upper host", "http://WWW.BILIBILI.COM/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv host trailing dot", "https://www.bilibili.com./video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv lowercase prefix", "https://www.bilibili.com/video/bv1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv part", "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=3", "bilibili:BV1Sk4y1x7r2:p3"},
	{"bv part with tracking", "https://www.bilibili.com/video/BV1Sk4y1x7r2/?p=2&spm_id_from=333.1007&vd_source=abc", "bilibili:BV1Sk4y1x7r2:p2"},
	{"bv bad part", "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=zero", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv negative part", "https://www.bilibili.com/video/BV1Sk4y1x7r2?p=-4", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv fragment", "https://www.bilibili.com/video/BV1Sk4y1x7r2#reply123", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bv /s/ share path", "https://www.bilibili.com/s/video/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"av converted", "https://www.bilibili.com/video/av170001", "bilibili:BV17x411w7KC:p1"},
	{"av upper", "https://www.bilibili.com/video/AV170001/?p=2", "bilibili:BV17x411w7KC:p2"},
	{"av big", "https://m.bilibili.com/video/av111298867365120", "bilibili:BV1L9Uoa9EUx:p1"},
	{"av out of range", "https://www.bilibili.com/video/av9999999999999999", "bilibili:av9999999999999999:p1"},
	{"av zero", "https://www.bilibili.com/video/av0", genericKey("https://www.bilibili.com/video/av0")},
	{"video bad id", "https://www.bilibili.com/video/BV1short", genericKey("https://www.bilibili.com/video/BV1short")},
	// Short links that carry the id.
	{"b23 bv", "https://b23.tv/BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"b23 bv part tracking", "https://b23.tv/BV1Sk4y1x7r2?p=4&share_source=copy_web", "bilibili:BV1Sk4y1x7r2:p4"},
	{"b23 av", "http://b23.tv/av170001", "bilibili:BV17x411w7KC:p1"},
	{"b23 code is generic", "https://b23.tv/AbCdEf", genericKey("https://b23.tv/AbCdEf")},
	{"b23 code tracking dropped", "https://b23.tv/AbCdEf?share_source=copy_web", genericKey("https://b23.tv/AbCdEf")},
	{"b23 two segments", "https://b23.tv/BV1Sk4y1x7r2/x", genericKey("https://b23.tv/BV1Sk4y1x7r2/x")},
	// ?bvid= pages.
	{"watch later", "https://www.bilibili.com/list/watchlater?oid=1234&bvid=BV1Sk4y1x7r2", "bilibili:BV1Sk4y1x7r2:p1"},
	{"watch later part", "https://www.bilibili.com/list/watchlater?bvid=BV1Sk4y1x7r2&p=2", "bilibili:BV1Sk4y1x7r2:p2"},
	{"festival", "https://www.bilibili.com/festival/2021bnj?bvid=bv1Sk4y1x7r2&spm_id_from=333", "bilibili:BV1Sk4y1x7r2:p1"},
	{"bvid av refused", "https://www.bilibili.com/festival/x?bvid=av170001", genericKey("https://www.bilibili.com/festival/x?bvid=av170001")},
	{"non-video", "https://www.bilibili.com/bangumi/play/ep123", genericKey("https://www.bilibili.com/bangumi/play/ep123")},
	{"other host", "https://space.bilibili.com/video/BV1Sk4y1x7r2", genericKey("https://space.bilibili.com/video/BV1Sk4y1x7r2")},
})

func TestSiteBilibili(t *testing.T) {
	t.Parallel()
	runKeyTable(t, "bilibili", bilibiliCases)
}
