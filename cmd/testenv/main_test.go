package main

import (
	"testing"

	"github.com/recap/recap/app/apptest"
	"github.com/recap/recap/store/storetest"
)

// testenv probes what the tests fall back to when TEST_DATABASE_URL and
// TEST_REDIS_URL are unset.
func TestDefaultsAreTheTests(t *testing.T) {
	if defaultDatabaseURL != storetest.DefaultURL {
		t.Errorf("defaultDatabaseURL = %q, storetest.DefaultURL = %q", defaultDatabaseURL, storetest.DefaultURL)
	}
	if defaultRedisURL != apptest.DefaultRedisURL {
		t.Errorf("defaultRedisURL = %q, apptest.DefaultRedisURL = %q", defaultRedisURL, apptest.DefaultRedisURL)
	}
}
