// Package csvimport reads the CSV files the command line loads through
// the API (rapport import orders, rapport catalog import) into the API's
// request bodies, naming the file and line of what it cannot read.
package csvimport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/money"
)

// Order is an order of a file, as the API takes it (POST /v1/orders),
// with the line of the file it starts at.
type Order struct {
	wire.OrderRequest
	Line int
}

// Orders reads a file of order lines: a row per line, with the columns
// order_id, customer_id, placed_at (RFC 3339), currency, product_id, name,
// quantity, price, and optionally gift, total (else the sum of the
// lines), status and refunded. An order's first row gives its details.
func Orders(path string) ([]Order, error) {
	f, err := readCSV(path, "order_id", "customer_id", "placed_at", "currency", "product_id", "name", "quantity", "price")
	if err != nil {
		return nil, err
	}
	// An order of the file, with its total and whether the file gives it.
	type order struct {
		Order
		total    money.Amount
		explicit bool
	}
	var orders []*order
	byID := map[string]*order{}
	for i := range f.rows {
		id := f.get(i, "order_id")
		o, ok := byID[id]
		if !ok {
			placed, err := time.Parse(time.RFC3339, f.get(i, "placed_at"))
			if err != nil {
				return nil, f.errorf(i, "placed_at %q is not a time like 2025-11-02T14:00:00Z", f.get(i, "placed_at"))
			}
			o = &order{Order: Order{OrderRequest: wire.OrderRequest{ID: id, CustomerID: f.get(i, "customer_id"), PlacedAt: &placed, Currency: f.get(i, "currency")}, Line: f.lines[i]}}
			o.Gift, _ = strconv.ParseBool(f.get(i, "gift"))
			o.Status = f.get(i, "status")
			if v := f.get(i, "refunded"); v != "" {
				refunded, err := money.Parse(v)
				if err != nil {
					return nil, f.errorf(i, "refunded: %v", err)
				}
				o.Refunded = &refunded
			}
			if v := f.get(i, "total"); v != "" {
				if o.total, err = money.Parse(v); err != nil {
					return nil, f.errorf(i, "total: %v", err)
				}
				o.explicit = true
			}
			byID[id] = o
			orders = append(orders, o)
		}
		q, errQ := strconv.ParseFloat(f.get(i, "quantity"), 64)
		if errQ != nil {
			return nil, f.errorf(i, "quantity %q is not a number", f.get(i, "quantity"))
		}
		p, errP := money.Parse(f.get(i, "price"))
		if errP != nil {
			return nil, f.errorf(i, "price: %v", errP)
		}
		o.Items = append(o.Items, wire.Item{ProductID: f.get(i, "product_id"), Name: f.get(i, "name"), Quantity: &q, Price: &p})
		if !o.explicit && q == float64(int64(q)) {
			// A quantity that is not whole is refused by the API.
			o.total = o.total.Add(p.Mul(int64(q)))
		}
	}
	out := make([]Order, len(orders))
	for i, o := range orders {
		o.Total = &o.total
		out[i] = o.Order
	}
	return out, nil
}

// Products reads a file of products: the columns product_id, name, price,
// currency, url, image_url, active, complements (only product_id and
// name are required); complements reads "teapot:0.9;cup:0.5".
func Products(path string) ([]wire.Product, error) {
	f, err := readCSV(path, "product_id", "name")
	if err != nil {
		return nil, err
	}
	var products []wire.Product
	for i := range f.rows {
		p := wire.Product{ID: f.get(i, "product_id"), Name: f.get(i, "name"), Currency: f.get(i, "currency"), URL: f.get(i, "url"), ImageURL: f.get(i, "image_url")}
		if v := f.get(i, "price"); v != "" {
			if p.Price, err = money.Parse(v); err != nil {
				return nil, f.errorf(i, "price: %v", err)
			}
		}
		if v := f.get(i, "active"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, f.errorf(i, "active %q is not true or false", v)
			}
			p.Active = &b
		}
		if v := f.get(i, "complements"); v != "" {
			p.Complements = map[string]float64{}
			for _, part := range strings.Split(v, ";") {
				id, w, ok := strings.Cut(strings.TrimSpace(part), ":")
				weight, err := strconv.ParseFloat(w, 64)
				if !ok || err != nil || weight <= 0 {
					return nil, f.errorf(i, "complement %q is not product:weight, such as teapot:0.9", part)
				}
				p.Complements[id] = weight
			}
		}
		products = append(products, p)
	}
	return products, nil
}

// csvFile reads a CSV file with a header row into records keyed by column.
type csvFile struct {
	name   string
	header map[string]int
	rows   [][]string
	lines  []int // file line of each row
}

// readCSV reads the file at path, which must have the required columns.
func readCSV(path string, required ...string) (*csvFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read the header row: %w", path, err)
	}
	c := &csvFile{name: path, header: map[string]int{}}
	for i, h := range head {
		c.header[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, col := range required {
		if _, ok := c.header[col]; !ok {
			return nil, fmt.Errorf("%s:1: the header has no %q column; it needs %s", path, col, strings.Join(required, ", "))
		}
	}
	for {
		line, _ := r.FieldPos(0)
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.rows = append(c.rows, rec)
		c.lines = append(c.lines, line+1)
	}
}

// get is a cell of a row, trimmed (empty when the row lacks it).
func (c *csvFile) get(row int, col string) string {
	i, ok := c.header[col]
	if !ok || i >= len(c.rows[row]) {
		return ""
	}
	return strings.TrimSpace(c.rows[row][i])
}

// errorf is an error at a row, with its file and line.
func (c *csvFile) errorf(row int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", c.name, c.lines[row], fmt.Sprintf(format, args...))
}
