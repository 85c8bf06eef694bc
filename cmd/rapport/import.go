package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/money"
)

// csvFile reads a CSV file with a header row into records keyed by column.
type csvFile struct {
	name   string
	header map[string]int
	rows   [][]string
	lines  []int // file line of each row
}

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

func (c *csvFile) get(row int, col string) string {
	i, ok := c.header[col]
	if !ok || i >= len(c.rows[row]) {
		return ""
	}
	return strings.TrimSpace(c.rows[row][i])
}

func (c *csvFile) errorf(row int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", c.name, c.lines[row], fmt.Sprintf(format, args...))
}

func newImportCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "import", Short: "Load history from files"}
	addAPIFlag(cmd, &base)
	cmd.AddCommand(&cobra.Command{
		Use:   "orders FILE.csv",
		Short: "Load past orders without starting any journey",
		Long: `Import orders loads order history from a CSV file with a row per order
line and the columns order_id, customer_id, placed_at (RFC 3339, such as
2025-11-02T14:00:00Z), currency, product_id, name, quantity, price, and
optionally gift, total (else the sum of the lines), status (placed,
fulfilled, delivered, cancelled, refunded, partly_refunded or returned;
placed when empty) and refunded (how much of the total was refunded).
Cancelled and refunded orders do not count in the customer's figures nor
for recommendations. No journey starts for these orders: they only tell
Rapport what customers bought and when. Orders already loaded are left
as they are.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := readCSV(args[0], "order_id", "customer_id", "placed_at", "currency", "product_id", "name", "quantity", "price")
			if err != nil {
				return err
			}
			// An order of the file, as the API takes it, with where it
			// starts in the file and whether the file gives its total.
			type order struct {
				wire.OrderRequest
				total    money.Amount
				line     int
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
						return f.errorf(i, "placed_at %q is not a time like 2025-11-02T14:00:00Z", f.get(i, "placed_at"))
					}
					o = &order{OrderRequest: wire.OrderRequest{ID: id, CustomerID: f.get(i, "customer_id"), PlacedAt: &placed, Currency: f.get(i, "currency")}, line: f.lines[i]}
					o.Gift, _ = strconv.ParseBool(f.get(i, "gift"))
					o.Status = f.get(i, "status")
					if v := f.get(i, "refunded"); v != "" {
						refunded, err := money.Parse(v)
						if err != nil {
							return f.errorf(i, "refunded: %v", err)
						}
						o.Refunded = &refunded
					}
					if v := f.get(i, "total"); v != "" {
						if o.total, err = money.Parse(v); err != nil {
							return f.errorf(i, "total: %v", err)
						}
						o.explicit = true
					}
					byID[id] = o
					orders = append(orders, o)
				}
				q, errQ := strconv.ParseFloat(f.get(i, "quantity"), 64)
				if errQ != nil {
					return f.errorf(i, "quantity %q is not a number", f.get(i, "quantity"))
				}
				p, errP := money.Parse(f.get(i, "price"))
				if errP != nil {
					return f.errorf(i, "price: %v", errP)
				}
				o.Items = append(o.Items, wire.Item{ProductID: f.get(i, "product_id"), Name: f.get(i, "name"), Quantity: &q, Price: &p})
				if !o.explicit && q == float64(int64(q)) {
					// A quantity that is not whole is refused by the API.
					o.total = o.total.Add(p.Mul(int64(q)))
				}
			}
			api := newAPIClient(base)
			created, existing, failed := 0, 0, 0
			for n, o := range orders {
				o.Total = &o.total
				status, err := api.do(cmd.Context(), "POST", "/v1/orders", nil, o.OrderRequest, nil)
				switch {
				case err != nil && status >= 400 && status < 500:
					failed++
					fmt.Fprintf(cmd.ErrOrStderr(), "%s:%d: order %s: %v\n", args[0], o.line, o.ID, err)
				case err != nil:
					return err
				case status == http.StatusCreated:
					created++
				default:
					existing++
				}
				if (n+1)%100 == 0 || n+1 == len(orders) {
					fmt.Fprintf(cmd.ErrOrStderr(), "\rorders: %d/%d", n+1, len(orders))
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "\n")
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s (%d already there, %d refused) from %s\n", plural(created, "order", "orders"), existing, failed, args[0])
			if failed > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	})
	return cmd
}
