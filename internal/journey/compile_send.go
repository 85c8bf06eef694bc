package journey

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rapporthq/rapport/internal/money"
)

// send reads a send step: its channels, template, webhook endpoint,
// voucher, recommendations and what to do when capped or undeliverable.
func (cc *compilation) send(n *yaml.Node) *SendStep {
	out := &SendStep{}
	fs := cc.fields(n, sendObject)
	if fs == nil {
		return out
	}
	if vn := fs.get("voucher"); vn != nil {
		out.Voucher = cc.voucher(vn)
	}
	if rn := fs.get("recommend"); rn != nil {
		out.Recommend = cc.recommend(rn)
	}
	if on := fs.get("on_cap"); on != nil {
		out.OnCap, _ = oneOf(cc, on, "on_cap", []string{"delay", "skip"}, "delay (the default: wait until the frequency cap allows it) or skip")
	}
	if pn := fs.get("priority"); pn != nil {
		out.Priority = cc.priority(pn)
	}
	if un := fs.get("on_undeliverable"); un != nil {
		out.OnUndeliverable, _ = oneOf(cc, un, "on_undeliverable", []string{OverdueContinue, OverdueExit}, "continue (the default) or exit")
	}
	if cn := fs.require(cc, n, "channel", "send needs a channel: email, sms, mail or webhook, or a list to try in order, like [email, sms]"); cn != nil {
		out.Channels = cc.channels(cn)
	}
	cc.endpoint(n, fs, out)
	if tn := fs.require(cc, n, "template", "send needs a template, the name of a folder in journeys/templates"); tn != nil {
		if v, ok := cc.scalar(tn, "template"); ok {
			if !slugRe.MatchString(v) {
				cc.errorf(tn, "template name %q is not allowed; use the name of a folder in journeys/templates, like thank-you", v)
			} else if cc.c.opts.Templates != nil {
				for _, ch := range out.Channels {
					if err := cc.c.opts.Templates.Check(ch, v); err != nil {
						cc.errorf(tn, "%s", err.Error())
					}
				}
				if tv, ok := cc.c.opts.Templates.(TemplateVersioner); ok {
					if hash, ok := tv.Version(v); ok {
						cc.pinned[v] = hash
					}
				}
			}
			out.Template = v
		}
	}
	return out
}

// endpoint reads a send's webhook endpoint: required with the webhook
// channel, refused without it, and one of Options.Endpoints when they are
// given.
func (cc *compilation) endpoint(n *yaml.Node, fs *fieldSet, out *SendStep) {
	en := fs.get("endpoint")
	if !slices.Contains(out.Channels, Webhook) {
		if en != nil {
			cc.errorf(en, "endpoint is for the webhook channel, which this send does not use")
		}
		return
	}
	if en = fs.require(cc, n, "endpoint", "a send on the webhook channel needs an endpoint: the name of one of RAPPORT_WEBHOOK_ENDPOINTS"); en == nil {
		return
	}
	v, ok := cc.scalar(en, "endpoint")
	if !ok {
		return
	}
	switch known := cc.c.opts.Endpoints; {
	case !slugRe.MatchString(v) || len(v) > 63:
		cc.errorf(en, "endpoint name %q is not allowed; use lowercase letters, digits, dashes or underscores, as in RAPPORT_WEBHOOK_ENDPOINTS", v)
	case known != nil && !slices.Contains(known, v):
		hint := "; none is configured"
		if len(known) > 0 {
			hint = "; configured: " + strings.Join(known, ", ") + didYouMean(v, known)
		}
		cc.errorf(en, "webhook endpoint %q is not configured (RAPPORT_WEBHOOK_ENDPOINTS)%s", v, hint)
	default:
		out.Endpoint = v
	}
}

// voucher reads a send's voucher: a percent or an amount off, and how
// long it is valid.
func (cc *compilation) voucher(n *yaml.Node) *VoucherSpec {
	out := &VoucherSpec{}
	fs := cc.fields(n, voucherObject)
	if fs == nil {
		return out
	}
	pn, an := fs.get("percent"), fs.get("amount")
	switch {
	case pn == nil && an == nil:
		cc.errorf(n, "a voucher needs `percent: 15` or `amount: 10`")
	case pn != nil && an != nil:
		cc.errorf(fs.keys["amount"], "a voucher is a percent or an amount off, not both")
	case pn != nil:
		out.Percent = cc.number(pn, "percent", 0, 100)
		if fs.get("currency") != nil {
			cc.errorf(fs.keys["currency"], "currency only goes with amount")
		}
	default:
		out.Amount = cc.amount(an)
	}
	if cn := fs.get("currency"); cn != nil && an != nil {
		if v, ok := cc.scalar(cn, "currency"); ok {
			if len(v) != 3 || strings.ToUpper(v) != v {
				cc.errorf(cn, "currency %q is not a three-letter code such as EUR", v)
			}
			out.Currency = v
			if places := money.Exponent(v); out.Amount.Scale() > places {
				cc.errorf(an, "amount %s has %d decimal places, but %s amounts have %d", out.Amount, out.Amount.Scale(), v, places)
			}
		}
	}
	if vn := fs.require(cc, n, "valid_for", "a voucher needs `valid_for`, such as `valid_for: 30d`"); vn != nil {
		out.ValidFor = cc.duration(vn, "valid_for")
	}
	return out
}

// recommend reads a send's recommendations: where from and how many.
func (cc *compilation) recommend(n *yaml.Node) *RecommendSpec {
	out := &RecommendSpec{From: "order", Limit: 3}
	fs := cc.fields(n, recommendObject)
	if fs == nil {
		return out
	}
	if fn := fs.get("from"); fn != nil {
		oneOf(cc, fn, "recommend from", []string{"order"}, "order (complements of what the triggering order says they like)")
	}
	if ln := fs.get("limit"); ln != nil {
		out.Limit = int(cc.number(ln, "limit", 0, 12))
		if float64(out.Limit) != cc.numberValue(ln) {
			cc.errorf(ln, "limit must be a whole number")
		}
	}
	return out
}

// maxVoucherAmount bounds a voucher's amount off.
var maxVoucherAmount = money.MustParse("1000000")

// amount reads a voucher's amount off, exactly as written: above 0, at
// most a million, at most four decimal places.
func (cc *compilation) amount(n *yaml.Node) money.Amount {
	v, ok := cc.scalar(n, "amount")
	if !ok {
		return money.Amount{}
	}
	a, err := money.Parse(v)
	if err != nil || a.Sign() <= 0 || a.Cmp(maxVoucherAmount) > 0 || a.Scale() > 4 {
		cc.errorf(n, "amount must be an amount above 0 and at most 1000000, such as 10 or 7.50, not %q", v)
		return money.Amount{}
	}
	return a
}

// number reads a number greater than lo and at most hi.
func (cc *compilation) number(n *yaml.Node, what string, lo, hi float64) float64 {
	v, ok := cc.scalar(n, what)
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= lo || f > hi {
		cc.errorf(n, "%s must be a number above %s and at most %s, not %q", what, strconv.FormatFloat(lo, 'f', -1, 64), strconv.FormatFloat(hi, 'f', -1, 64), v)
		return 0
	}
	return f
}

// numberValue is n's number, or 0 when it is none (number reported it).
func (cc *compilation) numberValue(n *yaml.Node) float64 {
	n = cc.resolve(n)
	if n == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(n.Value, 64)
	return f
}

// channels reads a channel or a list of channels to try in order.
func (cc *compilation) channels(n *yaml.Node) []Channel {
	n = cc.resolve(n)
	if n == nil {
		return nil
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
		if len(items) == 0 {
			cc.errorf(n, "the channel list is empty; name at least one of email, sms, mail or webhook")
		}
	}
	var out []Channel
	for _, item := range items {
		ch, ok := oneOf(cc, item, "channel", Channels, "email, sms, mail or webhook")
		switch {
		case !ok:
		case slices.Contains(out, ch):
			cc.errorf(item, "channel %s is listed twice; each channel is tried once", ch)
		default:
			out = append(out, ch)
		}
	}
	return out
}
