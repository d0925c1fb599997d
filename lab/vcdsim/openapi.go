package vcdsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// page is an OpenAPI result page. Values is always present (the client
// fails on a page without it).
type page struct {
	ResultTotal int   `json:"resultTotal"`
	PageCount   int   `json:"pageCount"`
	Page        int   `json:"page"`
	PageSize    int   `json:"pageSize"`
	Values      []any `json:"values"`
}

const maxPageSize = 128

// filterFunc reports the value of an item's field for FIQL filtering; ok is
// false for fields the collection does not know (such terms are ignored).
type filterFunc func(item any, field string) (value string, ok bool)

// writePage filters items with the request's FIQL filter (name==X;a.b==Y),
// slices the requested page and links the next one.
func (c *reqCtx) writePage(items []any, field filterFunc) {
	q := c.r.URL.Query()
	items = applyFilter(items, q.Get("filter"), field)
	if key, desc := q.Get("sortAsc"), false; key != "" || q.Get("sortDesc") != "" {
		if key == "" {
			key, desc = q.Get("sortDesc"), true
		}
		sort.SliceStable(items, func(i, j int) bool {
			a, _ := jsonField(items[i], key)
			b, _ := jsonField(items[j], key)
			if desc {
				return a > b
			}
			return a < b
		})
	}
	size := maxPageSize
	if v, err := strconv.Atoi(q.Get("pageSize")); err == nil && v > 0 {
		size = min(v, maxPageSize)
	}
	pg := 1
	if v, err := strconv.Atoi(q.Get("page")); err == nil && v > 0 {
		pg = v
	}
	total := len(items)
	count := (total + size - 1) / size
	lo := min((pg-1)*size, total)
	hi := min(lo+size, total)
	values := make([]any, 0, hi-lo)
	values = append(values, items[lo:hi]...)
	if pg < count {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("page", strconv.Itoa(pg+1))
		next.Set("pageSize", strconv.Itoa(size))
		// rel must be quoted and commas in the URI encoded (url.Values does).
		c.w.Header().Add("Link", fmt.Sprintf(`<%s?%s>;rel="nextPage";type="application/json"`,
			c.abs(c.r.URL.Path), next.Encode()))
	}
	c.json(http.StatusOK, page{ResultTotal: total, PageCount: count, Page: pg, PageSize: size, Values: values})
}

func applyFilter(items []any, filter string, field filterFunc) []any {
	if filter == "" || field == nil {
		return items
	}
	type term struct{ k, v string }
	var terms []term
	for _, t := range strings.Split(filter, ";") {
		k, v, ok := strings.Cut(t, "==")
		if !ok {
			continue
		}
		// the query was decoded once already; some clients encode the
		// value a second time (PathUnescape keeps a literal '+')
		if uv, err := url.PathUnescape(v); err == nil {
			v = uv
		}
		terms = append(terms, term{strings.TrimSpace(k), v})
	}
	out := make([]any, 0, len(items))
next:
	for _, it := range items {
		for _, t := range terms {
			got, ok := field(it, t.k)
			if ok && !matchFIQL(got, t.v) {
				continue next
			}
		}
		out = append(out, it)
	}
	return out
}

// matchFIQL compares with FIQL's '*' wildcard.
func matchFIQL(got, want string) bool {
	if !strings.Contains(want, "*") {
		return got == want
	}
	parts := strings.Split(want, "*")
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	got = got[len(parts[0]):]
	for _, p := range parts[1:] {
		i := strings.Index(got, p)
		if i < 0 {
			return false
		}
		got = got[i+len(p):]
	}
	return strings.HasSuffix(want, "*") || got == ""
}

// jsonField reads a (dotted) field of an item through its JSON form, which
// is how the API names fields in filters (ownerRef.id, orgRef.name ...).
func jsonField(item any, field string) (string, bool) {
	b, err := json.Marshal(item)
	if err != nil {
		return "", false
	}
	var m any
	if json.Unmarshal(b, &m) != nil {
		return "", false
	}
	for _, p := range strings.Split(field, ".") {
		mm, ok := m.(map[string]any)
		if !ok {
			return "", false
		}
		if m, ok = mm[p]; !ok {
			return "", true // known shape, absent field: compares as empty
		}
	}
	switch v := m.(type) {
	case string:
		return v, true
	case nil:
		return "", true
	default:
		return fmt.Sprint(v), true
	}
}

// notFound is the OpenAPI answer for an unknown id: 403, which the client
// maps to ErrorEntityNotFound (404 is not recognised).
func (c *reqCtx) notFound(kind, id string) {
	c.fail(http.StatusForbidden, "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
		"[ %s ] Either you need some or all of the following rights [Provider: View] to perform operations [%s] for %s or the target entity is invalid.", newUUID(), kind, id)
}
