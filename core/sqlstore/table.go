package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"pangolin-gateway/core"
)

// A table stores proto messages: the core's domain types are the
// contract's messages, and each column is named after the message field it
// holds (proto field names are snake_case, like the columns). A table
// declares its columns once; the SELECT list, the INSERT and UPDATE column
// lists and the scan all derive from that declaration and the message at
// hand, through protoreflect. Any message whose fields are named after
// columns reads from or writes to the table: a Site and a SiteListItem come
// from the same declaration.
//
// Why not a library: sqlc generates its own row structs, and bun or scany
// scan into tagged structs. Each would add one more shape of every entity
// and a mapper from it to the proto message the service returns, which is
// what this declaration removes. The messages already describe their fields
// at run time; pairing them with columns is all that is left to do.
//
// Conversions: an unset optional field is NULL and NULL leaves a field
// unset; booleans are 0/1 on SQLite; timestamps are written as ISO-8601
// strings (timestamptz parses them on PostgreSQL, SQLite keeps the text)
// and read back in core.TimeFormat; a list is a JSON array in a text column
// (messages as their JSON objects), NULL when empty; a message field is its
// JSON object in a text column.
type table struct {
	name, alias string
	// generated is the key column the database assigns on insert (an
	// identity), "" when rows carry their own key.
	generated string
	columns   []string
	// computed are read-only fields joined from other tables: field name →
	// SQL expression over alias.
	computed map[string]string

	selections sync.Map // message full name → *selection
}

type selection struct {
	sql    string // SELECT … FROM name alias
	fields []protoreflect.FieldDescriptor
}

func (t *table) hasColumn(name protoreflect.Name) bool {
	for _, c := range t.columns {
		if c == string(name) {
			return true
		}
	}
	return false
}

// selection returns the SELECT of the fields of md the table can fill: its
// columns and computed fields, in the message's field order.
func (t *table) selection(md protoreflect.MessageDescriptor) *selection {
	if s, ok := t.selections.Load(md.FullName()); ok {
		return s.(*selection)
	}
	s := &selection{}
	var exprs []string
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if expr, ok := t.computed[string(fd.Name())]; ok {
			exprs = append(exprs, expr)
		} else if t.hasColumn(fd.Name()) {
			exprs = append(exprs, t.alias+"."+string(fd.Name()))
		} else {
			continue
		}
		s.fields = append(s.fields, fd)
	}
	s.sql = "SELECT " + strings.Join(exprs, ", ") + " FROM " + t.name + " " + t.alias
	t.selections.Store(md.FullName(), s)
	return s
}

// rowScanner holds the scan destinations of a selection's fields, made
// once per query and pointed at each row's message in turn: a list of 20
// sites otherwise allocated one destination per column and row.
type rowScanner struct {
	fields []fieldScanner
	dest   []any
}

func newRowScanner(sel *selection) *rowScanner {
	r := &rowScanner{fields: make([]fieldScanner, len(sel.fields)), dest: make([]any, len(sel.fields))}
	for i, fd := range sel.fields {
		r.fields[i].fd = fd
		r.dest[i] = &r.fields[i]
	}
	return r
}

// into returns the destinations, filling msg.
func (r *rowScanner) into(msg proto.Message) []any {
	m := msg.ProtoReflect()
	for i := range r.fields {
		r.fields[i].m = m
	}
	return r.dest
}

// getRow reads the first row of the table's SELECT followed by tail
// (joins, WHERE, ORDER BY) into msg; sql.ErrNoRows when there is none.
func getRow(ctx context.Context, q querier, t *table, msg proto.Message, tail string, args ...any) error {
	sel := t.selection(msg.ProtoReflect().Descriptor())
	return reading(ctx, q, func(ctx context.Context, q querier) error {
		return q.QueryRowContext(ctx, sel.sql+" "+tail, args...).Scan(newRowScanner(sel).into(msg)...)
	})
}

// message is a proto message type M whose zero value T can be allocated.
type message[T any] interface {
	*T
	proto.Message
}

// getRows reads every row of the table's SELECT followed by tail, as
// messages of type M; an empty result is an empty, non-nil slice.
func getRows[T any, M message[T]](ctx context.Context, q querier, t *table, tail string, args ...any) (out []M, err error) {
	sel := t.selection(M(new(T)).ProtoReflect().Descriptor())
	err = reading(ctx, q, func(ctx context.Context, q querier) error {
		rows, err := q.QueryContext(ctx, sel.sql+" "+tail, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out = []M{}
		scan := newRowScanner(sel)
		for rows.Next() {
			m := M(new(T))
			if err := rows.Scan(scan.into(m)...); err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// column is a value written beside a message's fields: one the message
// does not carry (a hash, a flag derived from the request).
type column struct {
	name  string
	value any
}

// insert writes msg's fields that are columns of the table (the generated
// key excepted), and extra. With a generated key it returns the new key.
func insert(ctx context.Context, q querier, t *table, msg proto.Message, extra ...column) (int64, error) {
	m := msg.ProtoReflect()
	var names []string
	var args []any
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Name() == protoreflect.Name(t.generated) || !t.hasColumn(fd.Name()) {
			continue
		}
		v, err := sqlValue(m, fd)
		if err != nil {
			return 0, err
		}
		names, args = append(names, string(fd.Name())), append(args, v)
	}
	for _, c := range extra {
		names, args = append(names, c.name), append(args, c.value)
	}
	query := "INSERT INTO " + t.name + " (" + strings.Join(names, ", ") + ") VALUES (" + placeholders(1, len(args)) + ")"
	if t.generated == "" {
		_, err := q.ExecContext(ctx, query, args...)
		if tx, ok := q.(*tx); ok && err == nil && tx.firstID == "" && len(args) > 0 && t.columns[0] == names[0] {
			tx.firstID = fmt.Sprint(args[0]) // the row's own key
		}
		return 0, err
	}
	var id int64
	err := q.QueryRowContext(ctx, query+" RETURNING "+t.generated, args...).Scan(&id)
	if tx, ok := q.(*tx); ok && err == nil && tx.firstID == "" {
		tx.firstID = strconv.FormatInt(id, 10)
	}
	return id, err
}

// update sets the columns whose fields msg carries, on the row whose key
// column equals msg's key field: an update request names its object and
// carries what changes. It returns the rows changed, and -1 without running
// anything when msg carries no change.
func update(ctx context.Context, q querier, t *table, msg proto.Message, key protoreflect.Name) (int64, error) {
	m := msg.ProtoReflect()
	var sets []string
	var args []any
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Name() == key || !t.hasColumn(fd.Name()) {
			return true
		}
		var v any
		if v, err = sqlValue(m, fd); err != nil {
			return false
		}
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", fd.Name(), len(args)))
		return true
	})
	if err != nil || len(sets) == 0 {
		return -1, err
	}
	return t.updateWhereKey(ctx, q, m, key, sets, args)
}

// updateRow writes every column msg has a field for (an unset optional as
// NULL, a list as its JSON), but the key and the columns in keep, on the
// row whose key column equals msg's key field: msg is the whole new state
// of the row. It returns the rows changed.
func updateRow(ctx context.Context, q querier, t *table, msg proto.Message, key protoreflect.Name, keep ...string) (int64, error) {
	m := msg.ProtoReflect()
	var sets []string
	var args []any
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		if fd.Name() == key || !t.hasColumn(fd.Name()) || slices.Contains(keep, name) {
			continue
		}
		v, err := sqlValue(m, fd)
		if err != nil {
			return 0, err
		}
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", name, len(args)))
	}
	return t.updateWhereKey(ctx, q, m, key, sets, args)
}

// updateWhereKey runs UPDATE … SET sets (whose values are args) on the row
// whose key column equals m's key field, and returns the rows changed.
func (t *table) updateWhereKey(ctx context.Context, q querier, m protoreflect.Message, key protoreflect.Name, sets []string, args []any) (int64, error) {
	keyValue, err := sqlValue(m, m.Descriptor().Fields().ByName(key))
	if err != nil {
		return 0, err
	}
	args = append(args, keyValue)
	res, err := q.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s = $%d",
		t.name, strings.Join(sets, ", "), key, len(args)), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}

// sqlValue is the value of a field as written to its column: nil for an
// unset optional field.
func sqlValue(m protoreflect.Message, fd protoreflect.FieldDescriptor) (any, error) {
	if fd.IsList() {
		return listJSON(m.Get(fd).List(), fd)
	}
	if fd.HasPresence() && !m.Has(fd) {
		return nil, nil
	}
	v := m.Get(fd)
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return v.Int(), nil
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		return v.Float(), nil
	case protoreflect.MessageKind:
		b, err := protojson.Marshal(v.Message().Interface())
		return string(b), err
	}
	return nil, fmt.Errorf("sqlstore: field %s: no column type for %s", fd.FullName(), fd.Kind())
}

// fieldScanner scans a column into one field of a message.
type fieldScanner struct {
	m  protoreflect.Message
	fd protoreflect.FieldDescriptor
}

func (f fieldScanner) Scan(src any) error {
	if src == nil {
		f.m.Clear(f.fd)
		return nil
	}
	if f.fd.IsList() {
		return f.scanList(src)
	}
	if f.fd.Kind() == protoreflect.MessageKind {
		return f.scanMessage(src)
	}
	var v protoreflect.Value
	switch f.fd.Kind() {
	case protoreflect.StringKind:
		switch s := src.(type) {
		case string:
			v = protoreflect.ValueOfString(s)
		case []byte:
			v = protoreflect.ValueOfString(string(s))
		case time.Time: // timestamptz
			v = protoreflect.ValueOfString(core.Timestamp(s))
		}
	case protoreflect.BoolKind:
		switch b := src.(type) {
		case bool:
			v = protoreflect.ValueOfBool(b)
		case int64: // SQLite
			v = protoreflect.ValueOfBool(b != 0)
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind:
		if n, ok := src.(int64); ok {
			v = protoreflect.ValueOfInt64(n)
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind:
		if n, ok := src.(int64); ok && n >= math.MinInt32 && n <= math.MaxInt32 {
			v = protoreflect.ValueOfInt32(int32(n))
		}
	case protoreflect.DoubleKind:
		switch n := src.(type) {
		case float64:
			v = protoreflect.ValueOfFloat64(n)
		case int64: // SQLite keeps whole numbers as integers
			v = protoreflect.ValueOfFloat64(float64(n))
		}
	}
	if !v.IsValid() {
		return fmt.Errorf("sqlstore: cannot scan %T into %s", src, f.fd.FullName())
	}
	f.m.Set(f.fd, v)
	return nil
}

var _ sql.Scanner = fieldScanner{}

// listJSON writes a list as the JSON array its column holds; nil (NULL)
// when it is empty.
func listJSON(l protoreflect.List, fd protoreflect.FieldDescriptor) (any, error) {
	if l.Len() == 0 {
		return nil, nil
	}
	items := make([]json.RawMessage, l.Len())
	for i := range l.Len() {
		var err error
		if fd.Kind() == protoreflect.MessageKind {
			items[i], err = protojson.Marshal(l.Get(i).Message().Interface())
		} else {
			items[i], err = json.Marshal(l.Get(i).Interface())
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: field %s: %w", fd.FullName(), err)
		}
	}
	b, err := json.Marshal(items)
	return string(b), err
}

// text is a JSON column's value.
func (f fieldScanner) text(src any) ([]byte, error) {
	switch s := src.(type) {
	case string:
		return []byte(s), nil
	case []byte:
		return s, nil
	}
	return nil, fmt.Errorf("sqlstore: cannot scan %T into %s", src, f.fd.FullName())
}

// scanMessage reads a message field from its column's JSON object.
func (f fieldScanner) scanMessage(src any) error {
	text, err := f.text(src)
	if err != nil {
		return err
	}
	v := f.m.NewField(f.fd)
	if err := protojson.Unmarshal(text, v.Message().Interface()); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", f.fd.FullName(), err)
	}
	f.m.Set(f.fd, v)
	return nil
}

// scanList reads a list from its column's JSON array.
func (f fieldScanner) scanList(src any) error {
	text, err := f.text(src)
	if err != nil {
		return err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(text, &items); err != nil {
		return fmt.Errorf("sqlstore: %s: %w", f.fd.FullName(), err)
	}
	f.m.Clear(f.fd)
	l := f.m.Mutable(f.fd).List()
	for _, item := range items {
		var v protoreflect.Value
		switch f.fd.Kind() {
		case protoreflect.MessageKind:
			v = l.NewElement()
			if err := protojson.Unmarshal(item, v.Message().Interface()); err != nil {
				return fmt.Errorf("sqlstore: %s: %w", f.fd.FullName(), err)
			}
		case protoreflect.StringKind:
			var s string
			if err := json.Unmarshal(item, &s); err != nil {
				return fmt.Errorf("sqlstore: %s: %w", f.fd.FullName(), err)
			}
			v = protoreflect.ValueOfString(s)
		case protoreflect.Int64Kind:
			var n int64
			if err := json.Unmarshal(item, &n); err != nil {
				return fmt.Errorf("sqlstore: %s: %w", f.fd.FullName(), err)
			}
			v = protoreflect.ValueOfInt64(n)
		case protoreflect.Int32Kind:
			var n int32
			if err := json.Unmarshal(item, &n); err != nil {
				return fmt.Errorf("sqlstore: %s: %w", f.fd.FullName(), err)
			}
			v = protoreflect.ValueOfInt32(n)
		default:
			return fmt.Errorf("sqlstore: field %s: no JSON column for lists of %s", f.fd.FullName(), f.fd.Kind())
		}
		l.Append(v)
	}
	return nil
}
