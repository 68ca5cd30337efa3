// Package recap holds Recap's nouns: the domain vocabulary every other
// package speaks (jobs and their states and kinds, transcripts and their
// segments, chapters, highlights, ranges, conversation messages, callers
// and their scopes). It imports nothing of Recap, so any package may
// import it; storage, queues and doors convert to and from these types at
// their own edge.
package recap
