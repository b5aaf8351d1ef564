package api

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
)

// MaxPageSize caps list pages: a larger request gets a 400 naming the cap,
// never a short page that looks complete.
const MaxPageSize = 1000

// defaultPageSize is the page style's default, as in Pangolin.
const defaultPageSize = 20

// pagingParams are the query parameters of paged routes, with their docs.
var pagingParams = []struct{ name, description string }{
	{"limit", fmt.Sprintf("Items per page, offset style (default and maximum %d).", MaxPageSize)},
	{"offset", "Items to skip, offset style (default 0)."},
	{"page", "Page number from 1, page style."},
	{"pageSize", fmt.Sprintf("Items per page, page style (default %d, maximum %d).", defaultPageSize, MaxPageSize)},
}

// paging is the window a list request asked for, in the style it used: the
// answer's pagination repeats that style.
type paging struct {
	pageStyle     bool
	limit, offset int32
	page          int32 // page style only
}

// readPaging reads limit/offset or page/pageSize. Without either, the page
// is the whole list up to MaxPageSize, offset style. Every value must fit
// the core's int32 page, the page style's offset included: nothing wraps.
func readPaging(q url.Values) (paging, error) {
	limit, hasLimit, err := pagingInt(q, "limit", 1, MaxPageSize)
	if err != nil {
		return paging{}, err
	}
	offset, hasOffset, err := pagingInt(q, "offset", 0, math.MaxInt32)
	if err != nil {
		return paging{}, err
	}
	page, hasPage, err := pagingInt(q, "page", 1, math.MaxInt32)
	if err != nil {
		return paging{}, err
	}
	size, hasSize, err := pagingInt(q, "pageSize", 1, MaxPageSize)
	if err != nil {
		return paging{}, err
	}
	if (hasLimit || hasOffset) && (hasPage || hasSize) {
		return paging{}, badRequest("Validation error: use either limit/offset or page/pageSize, not both")
	}
	if hasPage || hasSize {
		if !hasPage {
			page = 1
		}
		if !hasSize {
			size = defaultPageSize
		}
		if last := math.MaxInt32/size + 1; page > last {
			return paging{}, badRequest(fmt.Sprintf("Validation error: page must be an integer from 1 to %d (pageSize %d)", last, size))
		}
		return paging{pageStyle: true, limit: int32(size), offset: int32((page - 1) * size), page: int32(page)}, nil
	}
	if !hasLimit {
		limit = MaxPageSize
	}
	return paging{limit: int32(limit), offset: int32(offset)}, nil
}

// pagingInt reads one paging parameter: canonical decimal from min to max.
func pagingInt(q url.Values, name string, min, max int64) (int64, bool, error) {
	v, ok := q[name]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v[0], 10, 64)
	tooBig := err != nil && canonicalInteger(v[0]) && v[0][0] != '-' || err == nil && n > max
	switch {
	case tooBig && max == MaxPageSize:
		return 0, false, badRequest(fmt.Sprintf("Validation error: %s must be at most %d", name, max))
	case tooBig:
		return 0, false, badRequest(fmt.Sprintf("Validation error: %s must be an integer from %d to %d", name, min, max))
	case err != nil || !canonicalInteger(v[0]) || n < min:
		return 0, false, badRequest(fmt.Sprintf("Validation error: %s must be an integer of at least %d", name, min))
	}
	return n, true, nil
}

// append writes the answer's pagination: total and the request's style.
func (p paging) append(b []byte, total int32) []byte {
	b = append(b, `"pagination":{"total":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	if p.pageStyle {
		b = append(b, `,"page":`...)
		b = strconv.AppendInt(b, int64(p.page), 10)
		b = append(b, `,"pageSize":`...)
		b = strconv.AppendInt(b, int64(p.limit), 10)
	} else {
		b = append(b, `,"limit":`...)
		b = strconv.AppendInt(b, int64(p.limit), 10)
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, int64(p.offset), 10)
	}
	return append(b, '}')
}
