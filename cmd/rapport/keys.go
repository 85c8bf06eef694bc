package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rapporthq/rapport/internal/apikey"
	"github.com/rapporthq/rapport/internal/store"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke the API keys /v1 answers to (DATABASE_URL)",
		Long: `Keys manages the API keys the shop's systems and staff tools send as
"Authorization: Bearer <key>" to /v1. A key holds scopes: what it may do.
Only a hash of each key is stored, so a key is shown once, when it is
created; keep it in a secret store. Revoking a key takes effect at once.

Scopes: ` + scopeHelp() + `

The keys live in the database in DATABASE_URL.`,
	}
	var name, scopes string
	create := &cobra.Command{
		Use:   "create --name NAME --scopes SCOPE[,SCOPE...]",
		Short: "Create a key and print it (once)",
		Example: `  rapport keys create --name shop-backend --scopes events:write,customers:write
  rapport keys create --name support-desk --scopes customers:read,tasks:read,tasks:write`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required: it says whose key this is, and staff actions record it")
			}
			sc, err := apikey.ParseScopes(scopes)
			if err != nil {
				return fmt.Errorf("--scopes: %w", err)
			}
			s, err := openStoreForCLI(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			k, token, err := s.CreateAPIKey(cmd.Context(), name, sc)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created key %s with scopes %s\n\n  %s\n\n", k.Name, joinScopes(k.Scopes), token)
			fmt.Fprintln(out, "This is the only time the key is shown: store it now. Send it as \"Authorization: Bearer <key>\" or set RAPPORT_API_KEY for the CLI.")
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "who or what the key is for (such as shop-backend); staff actions record it")
	create.Flags().StringVar(&scopes, "scopes", "", "comma-separated scopes: "+scopeHelp())
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List keys: name, scopes, created, last used, revoked",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreForCLI(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			keys, err := s.ListAPIKeys(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd, keys)
			}
			if len(keys) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no keys yet; create one with `rapport keys create --name NAME --scopes ...`")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED\tLAST USED\tREVOKED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Name, joinScopes(k.Scopes), k.CreatedAt.Local().Format("2006-01-02 15:04"), when(k.LastUsedAt), when(k.RevokedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a key at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStoreForCLI(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			k, err := s.RevokeAPIKey(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no key named %q; `rapport keys list` shows them", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked key %s at %s; requests with it now answer 401\n", k.Name, k.RevokedAt.Local().Format("2006-01-02 15:04:05"))
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// openStoreForCLI opens DATABASE_URL and brings its schema up to date, so
// a key can be made before any worker or API has run.
func openStoreForCLI(cmd *cobra.Command) (*store.Store, error) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return nil, errors.New("DATABASE_URL is not set; it names the PostgreSQL database, such as postgres://rapport@localhost:5432/rapport (`rapport dev` prints its own)")
	}
	s, err := store.Open(cmd.Context(), url)
	if err != nil {
		return nil, err
	}
	if err := s.Migrate(cmd.Context(), nil); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func scopeHelp() string {
	names := make([]string, len(apikey.Scopes))
	for i, s := range apikey.Scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func joinScopes(scopes []apikey.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
