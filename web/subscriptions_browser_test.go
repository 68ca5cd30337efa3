package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/recap/recap/app"
	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store"
)

// TestPageSubscriptions: the page's subscriptions section subscribes to
// a feed, shows its Atom feed URL and the subscription, and unsubscribes.
func TestPageSubscriptions(t *testing.T) {
	t.Parallel()
	e := apptest.Start(t, apptest.Options{Configure: func(c *app.Config) { c.SubscriptionMinInterval = 3600e9 }})
	feed, _ := e.Host.ServeFeed("/page.rss", 1)
	b := newBrowser(t)
	b.run(t, "subscribe", chromedp.Navigate(e.Server.URL+"/"), waitFor(`document.body.dataset.ready === 'true'`),
		chromedp.SendKeys(`input[name="key"]`, e.Key),
		eval(`document.getElementById('subs-box').open = true`, nil),
		chromedp.SendKeys(`#sub-url`, feed),
		chromedp.Click(`#subscribe button[type="submit"]`),
		waitFor(`document.querySelectorAll('#subs li').length === 1 && !document.getElementById('sub-feed').hidden`),
	)
	var feedURL, title string
	b.run(t, "read", chromedp.Text(`#sub-feed code`, &feedURL), chromedp.Text(`#subs li a`, &title))
	if !strings.HasPrefix(feedURL, e.Server.URL+"/feeds/rfeed_") || title != "Recap test podcast" {
		t.Fatalf("feed %q, title %q", feedURL, title)
	}
	b.run(t, "unsubscribe", chromedp.Click(`#subs li button.unsubscribe`), waitFor(`document.querySelectorAll('#subs li').length === 0`))
	if list, err := e.Store.ListSubscriptions(context.Background(), store.SubscriptionFilter{AccountID: e.KeyRow.AccountID}); err != nil || len(list) != 0 {
		t.Fatalf("after unsubscribe: %d subscriptions (%v)", len(list), err)
	}
}
