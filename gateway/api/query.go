package api

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// queryField is a request field filled from the query parameter of the same
// (JSON) name.
type queryField struct {
	fd       protoreflect.FieldDescriptor
	name     string
	required bool
}

func newQueryField(fd protoreflect.FieldDescriptor, required bool) (queryField, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind, protoreflect.BytesKind:
		return queryField{}, fmt.Errorf("%s: a query parameter is a scalar, not %s", fd.FullName(), fd.Kind())
	}
	return queryField{fd: fd, name: fd.JSONName(), required: required}, nil
}

// bindQuery reads the query string into m, and the paging parameters of a
// paged route. Unknown parameters are refused, not ignored: an ignored
// filter would return a list that looks filtered but is not. A parameter
// given twice is refused too: which one would count is a guess.
func (o *operation) bindQuery(raw string, m protoreflect.Message) (paging, error) {
	var q url.Values
	if raw != "" {
		var err error
		if q, err = url.ParseQuery(raw); err != nil {
			return paging{}, badRequest("Malformed query string: " + err.Error())
		}
	}
	var unknown []string
	for name, values := range q {
		if !o.queryNames[name] {
			unknown = append(unknown, "'"+name+"'")
		} else if len(values) > 1 {
			return paging{}, badRequest(fmt.Sprintf("Validation error: query parameter '%s' given more than once", name))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return paging{}, badRequest("Validation error: Unrecognized query parameter(s): " + strings.Join(unknown, ", "))
	}
	for _, f := range o.query {
		v := q.Get(f.name)
		if v == "" {
			if f.required {
				return paging{}, badRequest(fmt.Sprintf("Validation error: Required at %q", f.name))
			}
			continue
		}
		val, err := f.value(v)
		if err != nil {
			return paging{}, err
		}
		m.Set(f.fd, val)
	}
	if o.page == nil {
		return paging{}, nil
	}
	p, err := readPaging(q)
	if err != nil {
		return paging{}, err
	}
	page := m.Mutable(o.page).Message()
	page.Set(o.pageLimit, protoreflect.ValueOfInt32(p.limit))
	page.Set(o.pageOffset, protoreflect.ValueOfInt32(p.offset))
	return p, nil
}

// value converts a query value by the field's kind.
func (f queryField) value(v string) (protoreflect.Value, error) {
	invalid := func(want string) (protoreflect.Value, error) {
		return protoreflect.Value{}, badRequest(fmt.Sprintf("Validation error: Expected %s at %q", want, f.name))
	}
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
		return invalid("a UTF-8 string without NUL")
	}
	switch f.fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v), nil
	case protoreflect.BoolKind:
		switch v {
		case "true":
			return protoreflect.ValueOfBool(true), nil
		case "false":
			return protoreflect.ValueOfBool(false), nil
		}
		return invalid("true or false")
	case protoreflect.EnumKind:
		if ev := f.fd.Enum().Values().ByName(protoreflect.Name(v)); ev != nil {
			return protoreflect.ValueOfEnum(ev.Number()), nil
		}
		return invalid("one of the documented values")
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return invalid("a finite number")
		}
		val, err := numberValue(f.fd.Kind(), v)
		if err != nil {
			return invalid("a finite number")
		}
		return val, nil
	}
	if !canonicalInteger(v) {
		return invalid("an integer in decimal")
	}
	val, err := numberValue(f.fd.Kind(), v)
	if err != nil {
		return invalid(kindRange(f.fd.Kind()))
	}
	return val, nil
}

// canonicalInteger reports whether s is 0 or -?[1-9][0-9]*.
func canonicalInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
