package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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

func newCatalogCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "catalog", Short: "Manage the product catalog used for recommendations"}
	addAPIFlag(cmd, &base)
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE.csv",
		Short: "Load products and which products complement them",
		Long: `Import loads products from a CSV file with the columns
product_id, name, price, currency, url, image_url, active, complements
(only product_id and name are required). complements lists the products
that go well with this one and how well, from 0 to 1:
"teapot:0.9;cup:0.5". Products are updated in place; a product's
complements are replaced by the file's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := readCSV(args[0], "product_id", "name")
			if err != nil {
				return err
			}
			type product struct {
				ID          string             `json:"id"`
				Name        string             `json:"name"`
				Price       money.Amount       `json:"price"`
				Currency    string             `json:"currency,omitempty"`
				URL         string             `json:"url,omitempty"`
				ImageURL    string             `json:"image_url,omitempty"`
				Active      *bool              `json:"active,omitempty"`
				Complements map[string]float64 `json:"complements,omitempty"`
			}
			var products []product
			for i := range f.rows {
				p := product{ID: f.get(i, "product_id"), Name: f.get(i, "name"), Currency: f.get(i, "currency"), URL: f.get(i, "url"), ImageURL: f.get(i, "image_url")}
				if v := f.get(i, "price"); v != "" {
					if p.Price, err = money.Parse(v); err != nil {
						return f.errorf(i, "price: %v", err)
					}
				}
				if v := f.get(i, "active"); v != "" {
					b, err := strconv.ParseBool(v)
					if err != nil {
						return f.errorf(i, "active %q is not true or false", v)
					}
					p.Active = &b
				}
				if v := f.get(i, "complements"); v != "" {
					p.Complements = map[string]float64{}
					for _, part := range strings.Split(v, ";") {
						id, w, ok := strings.Cut(strings.TrimSpace(part), ":")
						weight, err := strconv.ParseFloat(w, 64)
						if !ok || err != nil || weight <= 0 {
							return f.errorf(i, "complement %q is not product:weight, such as teapot:0.9", part)
						}
						p.Complements[id] = weight
					}
				}
				products = append(products, p)
			}
			api := newAPIClient(base)
			// First every product, then the complements, so complements may
			// name products anywhere in the file.
			bare := make([]product, len(products))
			for i, p := range products {
				bare[i] = p
				bare[i].Complements = nil
			}
			for _, batch := range [][]product{bare, products} {
				for start := 0; start < len(batch); start += 1000 {
					end := min(start+1000, len(batch))
					if _, err := api.do(cmd.Context(), "POST", "/v1/products", nil, map[string]any{"products": batch[start:end]}, nil); err != nil {
						return fmt.Errorf("%s: %w", args[0], err)
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %s from %s\n", plural(len(products), "product", "products"), args[0])
			return nil
		},
	})
	return cmd
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
optionally gift and total (else the sum of the lines). No journey starts
for these orders: they only tell Rapport what customers bought and when.
Orders already loaded are left as they are.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := readCSV(args[0], "order_id", "customer_id", "placed_at", "currency", "product_id", "name", "quantity", "price")
			if err != nil {
				return err
			}
			type item struct {
				ProductID string       `json:"product_id"`
				Name      string       `json:"name"`
				Quantity  float64      `json:"quantity"`
				Price     money.Amount `json:"price"`
			}
			type order struct {
				ID         string       `json:"id"`
				CustomerID string       `json:"customer_id"`
				PlacedAt   time.Time    `json:"placed_at"`
				Total      money.Amount `json:"total"`
				Currency   string       `json:"currency"`
				Gift       bool         `json:"gift"`
				Items      []item       `json:"items"`
				line       int
				explicit   bool
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
					o = &order{ID: id, CustomerID: f.get(i, "customer_id"), PlacedAt: placed, Currency: f.get(i, "currency"), line: f.lines[i]}
					o.Gift, _ = strconv.ParseBool(f.get(i, "gift"))
					if v := f.get(i, "total"); v != "" {
						if o.Total, err = money.Parse(v); err != nil {
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
				o.Items = append(o.Items, item{ProductID: f.get(i, "product_id"), Name: f.get(i, "name"), Quantity: q, Price: p})
				if !o.explicit && q == float64(int64(q)) {
					// A quantity that is not whole is refused by the API.
					o.Total = o.Total.Add(p.Mul(int64(q)))
				}
			}
			api := newAPIClient(base)
			created, existing, failed := 0, 0, 0
			for n, o := range orders {
				status, err := api.do(cmd.Context(), "POST", "/v1/orders", nil, o, nil)
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

func newAudienceCmd() *cobra.Command {
	var base apiTarget
	cmd := &cobra.Command{Use: "audience", Short: "Preview or run a journey's audience"}
	addAPIFlag(cmd, &base)
	var wait time.Duration
	run := &cobra.Command{
		Use:   "run JOURNEY",
		Short: "Enter every matching customer now",
		Long: `Run starts the journey's audience workflow: it evaluates trigger.audience
for every customer and enters those who match, under the journey's entry
rules. The entry is keyed by the day, so running it twice on one day
enters nobody twice. It waits for the run to finish (up to --wait); follow
a longer run in the Temporal UI by its workflow id.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Journey    string `json:"journey"`
				EntryKey   string `json:"entry_key"`
				WorkflowID string `json:"workflow_id"`
				Status     string `json:"status"`
				Counts     struct {
					Scanned, Matched, Started, Skipped int64
				} `json:"counts"`
				Runs []string `json:"runs"`
			}
			q := url.Values{"wait": {wait.String()}}
			if _, err := newAPIClient(base).do(cmd.Context(), "POST", "/v1/journeys/"+url.PathEscape(args[0])+"/audience-runs", q, nil, &res); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if res.Status != "done" {
				fmt.Fprintf(out, "%s: audience run %s still running; follow workflow %s in the Temporal UI\n", res.Journey, res.EntryKey, res.WorkflowID)
				return nil
			}
			c := res.Counts
			fmt.Fprintf(out, "%s: %s scanned, %d match, %d entered, %d skipped (already in it, or refused by the entry rules)\n",
				res.Journey, plural(int(c.Scanned), "customer", "customers"), c.Matched, c.Started, c.Skipped)
			return nil
		},
	}
	run.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for the run to finish (at most 10m)")
	var sample int
	var asJSON bool
	preview := &cobra.Command{
		Use:   "preview JOURNEY",
		Short: "Count who the audience selects now and show a sample, entering nobody",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res struct {
				Journey   string           `json:"journey"`
				Audience  string           `json:"audience"`
				SQL       []string         `json:"sql"`
				CEL       []string         `json:"cel"`
				Customers int64            `json:"customers"`
				Matched   int64            `json:"matched"`
				Sample    []map[string]any `json:"sample"`
				ScanMS    int64            `json:"scan_ms"`
			}
			q := url.Values{"sample": {fmt.Sprint(sample)}}
			var raw json.RawMessage
			if _, err := newAPIClient(base).do(cmd.Context(), "GET", "/v1/journeys/"+url.PathEscape(args[0])+"/audience", q, nil, &raw); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				_, err := fmt.Fprintln(out, string(raw))
				return err
			}
			if err := json.Unmarshal(raw, &res); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s audience: %s\n", res.Journey, res.Audience)
			if len(res.SQL) > 0 {
				fmt.Fprintf(out, "  decided in SQL: %s\n", strings.Join(res.SQL, " && "))
			}
			if len(res.CEL) > 0 {
				fmt.Fprintf(out, "  evaluated per customer: %s\n", strings.Join(res.CEL, " && "))
			}
			fmt.Fprintf(out, "%d of %s match now (scanned in %dms)\n", res.Matched, plural(int(res.Customers), "customer", "customers"), res.ScanMS)
			if len(res.Sample) > 0 {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CUSTOMER\tCOUNTRY\tORDERS\tLIFETIME VALUE\tDAYS SINCE LAST ORDER\tTAGS")
				for _, c := range res.Sample {
					fmt.Fprintf(tw, "%v\t%v\t%v\t%.2f\t%v\t%v\n", c["id"], c["country"], c["orders_count"], c["lifetime_value"], c["days_since_last_order"], c["tags"])
				}
				tw.Flush()
			}
			return nil
		},
	}
	preview.Flags().IntVar(&sample, "sample", 10, "how many matching customers to show (random)")
	preview.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON answer")
	cmd.AddCommand(run, preview)
	return cmd
}
