package summarize

import (
	"math"
	"strings"
	"unicode"
)

// stopwords are dropped before lexical scoring: they carry no topic.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for w := range strings.FieldsSeq(`a about above after again against all also am an and any are as at be because been
before being below between both but by can could did do does doing down during each few for from further
get got had has have having he her here hers herself him himself his how i if in into is it its itself
just let like me more most my myself no nor not now of off on once only or other our ours ourselves out
over own really right same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up us very was we well were what when where which while
who whom why will with would you your yours yourself yourselves ok okay yeah um uh oh going gonna want
know think say said one two thing things way lot make made see also very much many even still back
le la les de des du un une et est en que qui dans pour pas sur au aux il elle ce cette der die das und ist
nicht ein eine zu den mit von el los las del y que en un una es por para con no se lo`) {
		m[w] = true
	}
	return m
}()

// tokenize lowercases text and returns its content words; runs of CJK
// runes, which have no spaces, become overlapping bigrams so they still
// share terms with related text.
func tokenize(s string) []string {
	var out []string
	var word []rune
	var cjk []rune
	flushWord := func() {
		if len(word) == 0 {
			return
		}
		w := string(word)
		word = word[:0]
		if len([]rune(w)) < 2 || stopwords[w] || isNumber(w) {
			return
		}
		out = append(out, stem(w))
	}
	flushCJK := func() {
		switch len(cjk) {
		case 0:
		case 1:
			out = append(out, string(cjk))
		default:
			for i := 0; i+1 < len(cjk); i++ {
				out = append(out, string(cjk[i:i+2]))
			}
		}
		cjk = cjk[:0]
	}
	for _, r := range strings.ToLower(s) {
		switch {
		case isCJK(r):
			flushWord()
			cjk = append(cjk, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			flushCJK()
			if r != '\'' {
				word = append(word, r)
			}
		default:
			flushWord()
			flushCJK()
		}
	}
	flushWord()
	flushCJK()
	return out
}

func isNumber(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// stem folds the commonest English inflections so "planets" meets "planet".
func stem(w string) string {
	if len(w) <= 4 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"):
		return w
	case strings.HasSuffix(w, "s"):
		return w[:len(w)-1]
	}
	return w
}

// idfOf computes smoothed inverse document frequencies.
func idfOf(docs [][]string) map[string]float64 {
	df := map[string]int{}
	for _, d := range docs {
		seen := map[string]bool{}
		for _, t := range d {
			if !seen[t] {
				seen[t] = true
				df[t]++
			}
		}
	}
	n := float64(len(docs))
	idf := make(map[string]float64, len(df))
	for t, c := range df {
		idf[t] = math.Log(1 + n/float64(c))
	}
	return idf
}

func logf(x float64) float64 { return math.Log(x) }
