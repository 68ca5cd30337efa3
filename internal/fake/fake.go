// Package fake holds what the in-memory fakes of Recap's tests share:
// counting their calls and injecting failures by method name.
package fake

import "sync"

// Recorder counts a fake's calls by method and returns the failures a test
// injected. The zero Recorder is ready; embed it in a fake.
type Recorder struct {
	mu    sync.Mutex
	calls map[string]int
	fail  map[string]error
}

// Fail makes every later call of the named method return err; nil removes
// the failure.
func (c *Recorder) Fail(method string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		delete(c.fail, method)
		return
	}
	if c.fail == nil {
		c.fail = map[string]error{}
	}
	c.fail[method] = err
}

// Calls returns how often a method was called.
func (c *Recorder) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// Enter counts a call of method and returns its injected failure (nil
// when none). Fakes call it first in each method.
func (c *Recorder) Enter(method string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[method]++
	return c.fail[method]
}
