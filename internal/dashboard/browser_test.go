package dashboard_test

// Browser tests: headless Chromium, driven by chromedp, against the
// dashboard on a real in-process broker. They assert on what the page
// shows. They skip when no Chromium is installed (apt-get install
// chromium); HERALD_CHROMIUM names another binary. With
// HERALD_SCREENSHOTS=<dir> they save a PNG of every page there. Run them
// alone with: go test -run '^TestBrowser' ./internal/dashboard/

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/dashboard"

	"github.com/chromedp/chromedp"

	"github.com/heraldmq/herald/client"
)

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
	url string

	mu       sync.Mutex
	failures []string
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	if p := os.Getenv("HERALD_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("browser tests need Chromium: HERALD_CHROMIUM=%s: %v", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skip("browser tests need Chromium: none found on PATH (apt-get install chromium, or set HERALD_CHROMIUM)")
	return ""
}

func newBrowser(t *testing.T, url string) *browser {
	t.Helper()
	path := chromiumPath(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, url: url}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium %s: %v", path, err)
	}
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			// Failed requests the page handles (401, 504) are logged by
			// the browser with a source; the page's own errors have none.
			if m.IsException() || (m.Type == chromedp.ConsoleError && m.Source == "") {
				b.mu.Lock()
				b.failures = append(b.failures, m.String())
				b.mu.Unlock()
			}
			t.Logf("browser console: %s", m)
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, f := range b.failures {
			t.Errorf("page error: %s", f)
		}
	})
	return b
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\npage text:\n%s", err, b.pageText())
	}
}

// open goes to a page of the dashboard by its hash route.
func (b *browser) open(route string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.url + "/" + route))
}

// route changes the hash route without reloading.
func (b *browser) route(route string) {
	b.t.Helper()
	b.eval(fmt.Sprintf("location.hash = %q", route))
}

func (b *browser) eval(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js+"; null")); err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
}

func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	return s
}

// waitJS waits until the JavaScript expression cond is true on the page.
func (b *browser) waitJS(what, cond string) {
	b.t.Helper()
	expr := fmt.Sprintf("(() => { try { return !!(%s); } catch (e) { return false; } })()", cond)
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || b.ctx.Err() != nil {
			b.t.Fatalf("waiting for %s (%s): err %v\npage text:\n%s", what, cond, err, b.pageText())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitText waits until the element sel shows text containing want.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	b.waitJS(fmt.Sprintf("%s to show %q", sel, want),
		fmt.Sprintf("(document.querySelector(%q) || {}).textContent.includes(%q)", sel, want))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf("(document.querySelector(%q) || {}).textContent || ''", sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) click(sel string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do(chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// setValue sets a form control and tells the page it changed.
func (b *browser) setValue(sel, value string) {
	b.t.Helper()
	b.waitJS(sel+" to exist", fmt.Sprintf("document.querySelector(%q)", sel))
	b.eval(fmt.Sprintf(`(() => { const el = document.querySelector(%q); el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); })()`, sel, value))
}

// screenshot saves the page as <HERALD_SCREENSHOTS>/<name>.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("HERALD_SCREENSHOTS")
	if dir == "" {
		return
	}
	// Toasts would cover the page; the viewport grows to the page's
	// height so that the sticky sidebar and top bar sit where they belong.
	b.eval("document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0)")
	height, err := chromedp.Run(b.ctx, chromedp.Evaluate[int64]("Math.max(900, document.documentElement.scrollHeight)"))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.do(chromedp.EmulateViewport(1440, height))
	time.Sleep(400 * time.Millisecond) // layout and chart redraw
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	b.do(chromedp.EmulateViewport(1440, 900))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// seed fills the broker with the traffic of a small shop, so the pages
// have something to show.
func (e *env) seed() {
	e.t.Helper()
	ctx := e.ctx
	for i := range 4 {
		_, err := e.sdk.QM().SetChannel("payments").SetBody(fmt.Appendf(nil, `{"payment": %d, "amount": %d.50}`, 9000+i, 20+i)).
			SetMetadata("card").SetPolicyMaxReceiveCount(1).SetPolicyMaxReceiveQueue("payments.dead").Send(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
	}
	for i := range 3 {
		if _, err := e.sdk.QM().SetChannel("emails").SetBody(fmt.Appendf(nil, "welcome mail %d", i)).Send(ctx); err != nil {
			e.t.Fatal(err)
		}
	}
	// One payment fails twice: it becomes a dead letter.
	sqm := e.sdk.SQM().SetChannel("payments")
	m, err := sqm.Next(ctx, 30, 2)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := m.Reject(); err != nil {
		e.t.Fatal(err)
	}
	sqm.Close()
	if _, err := e.sdk.RQM().SetChannel("emails").SetMaxNumberOfMessages(1).SetWaitTimeSeconds(1).Send(ctx); err != nil {
		e.t.Fatal(err)
	}
	for i, s := range []string{"order 1041 created", "order 1041 paid", "order 1042 created"} {
		if _, err := e.sdk.ES().SetChannel("audit").SetMetadata(fmt.Sprint("step-", i)).SetBody([]byte(s)).AddTag("source", "shop").Send(ctx); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.sdk.CreateChannel(ctx, client.ChannelTypeEvents, "prices.live"); err != nil {
		e.t.Fatal(err)
	}
	for range 5 {
		if err := e.sdk.E().SetChannel("prices.live").SetBody([]byte(`{"EURUSD": 1.0842}`)).Send(ctx); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.sdk.CreateChannel(ctx, client.ChannelTypeCommands, "deploy"); err != nil {
		e.t.Fatal(err)
	}
	eventually(e.t, 10*time.Second, func() error {
		info, err := e.broker.QueueInfo(ctx, "payments.dead")
		if err != nil {
			return err
		}
		if info.Waiting != 1 {
			return fmt.Errorf("payments.dead has %d waiting, want 1", info.Waiting)
		}
		return nil
	})
}

// traffic sends and receives queue messages and events at a changing
// rate for d.
func (e *env) traffic(d time.Duration) {
	e.t.Helper()
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		phase := time.Since(start).Seconds()
		n := 4 + int(6*(1+math.Sin(phase*1.3)))
		for j := range n {
			if _, err := e.sdk.QM().SetChannel("emails").SetBody(fmt.Appendf(nil, "mail %d-%d", i, j)).Send(e.ctx); err != nil {
				e.t.Fatal(err)
			}
			if err := e.sdk.E().SetChannel("prices.live").SetBody([]byte(`{"EURUSD": 1.0842}`)).Send(e.ctx); err != nil {
				e.t.Fatal(err)
			}
		}
		if i%2 == 0 {
			if _, err := e.sdk.RQM().SetChannel("emails").SetMaxNumberOfMessages(n + 2).SetWaitTimeSeconds(1).Send(e.ctx); err != nil {
				e.t.Fatal(err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// respondQueries answers the queries of channel until the test ends.
func (e *env) respondQueries(channel string, answer func(q *client.QueryReceive) []byte) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	e.t.Cleanup(cancel)
	qs, err := e.sdk.SubscribeToQueries(ctx, channel, "responders", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	go func() {
		for q := range qs {
			_ = e.sdk.R().SetRequestId(q.Id).SetResponseTo(q.ResponseTo).SetExecutedAt(time.Now()).
				SetMetadata("stock").SetBody(answer(q)).Send(ctx)
		}
	}()
	// Wait until the subscription is in place: a query gets an answer.
	eventually(e.t, 10*time.Second, func() error {
		_, err := e.sdk.Q().SetChannel(channel).SetBody([]byte("ping")).SetTimeout(time.Second).Send(ctx)
		return err
	})
}

func TestBrowserDashboard(t *testing.T) {
	chromiumPath(t)
	e := newEnv(t)
	e.seed()
	e.respondQueries("inventory", func(q *client.QueryReceive) []byte {
		return fmt.Appendf(nil, `{"sku": "A-1042", "stock": 17, "asked": %q}`, q.Body)
	})
	b := newBrowser(t, e.web.URL)
	host := e.srv.Options().Host

	// Overview: the node, the channels by type and the recent channels.
	b.open("#/")
	b.waitText("#node-summary [data-field=host]", host)
	b.waitText("#recent-table", "audit")
	b.waitText("#types-table", "Events store")
	b.waitJS("the rate chart to have samples", "document.querySelector('.chart canvas').width > 0")
	if got := b.text("[data-stat=channels] .value"); got == "0" || got == "" {
		t.Errorf("overview shows %q channels", got)
	}
	if os.Getenv("HERALD_SCREENSHOTS") != "" {
		e.traffic(8 * time.Second) // a chart worth looking at
	}
	b.waitJS("rate samples", "document.querySelector('[data-stat=in] .value') !== null")
	b.screenshot("overview")

	// Queue list: create a queue through the dialog.
	b.route("#/channels/queues")
	b.waitText("#channels-table", "payments")
	b.click("#new-channel")
	b.typeInto("#new-channel-form input[name=name]", "orders")
	b.click("#new-channel-form button[type=submit]")
	b.waitJS("the new queue in the list", `document.querySelector('#channels-table tr[data-key="orders"]')`)
	b.screenshot("queues")
	b.typeInto("#channel-search", "ord")
	b.waitJS("the search to keep only orders",
		`document.querySelector('#channels-table tr[data-key="orders"]') && !document.querySelector('#channels-table tr[data-key="payments"]')`)

	// Queue page: send with every policy field; the waiting count follows.
	b.click(`#channels-table tr[data-key="orders"] td`)
	b.waitJS("the queue page", "location.hash === '#/queue/orders'")
	b.waitText("[data-stat=waiting] .value", "0")
	b.click(`.tabs button[data-tab="send"]`)
	b.setValue("#send-form textarea[name=body]", `{"order": 1042, "total": 99.5}`)
	b.setValue("#send-form input[name=metadata]", "web-shop")
	b.setValue("#send-form textarea[name=tags]", "source=dashboard\npriority=high")
	b.setValue("#send-form input[name=id]", "order-1042")
	b.setValue("#send-form input[name=expiration]", "3600")
	b.setValue("#send-form input[name=maxReceive]", "3")
	b.setValue("#send-form input[name=dlq]", "orders.dead")
	b.click("#send")
	b.waitText("#send-result", "order-1042")
	b.waitText("[data-stat=waiting] .value", "1")
	// A message sent by someone else shows up in the live count too.
	if _, err := e.sdk.QM().SetChannel("orders").SetBody([]byte("from the SDK")).Send(e.ctx); err != nil {
		t.Fatal(err)
	}
	b.waitText("[data-stat=waiting] .value", "2")
	b.screenshot("queue-send")

	// Peek: both messages, and the viewer shows the policy.
	b.click(`.tabs button[data-tab="messages"]`)
	b.click("#peek")
	b.waitJS("two peeked messages", "document.querySelectorAll('.messages-table tbody tr').length === 2")
	b.click(".messages-table tbody tr td")
	b.waitText("#message-viewer [data-field=policy]", "max receive 3")
	b.waitText("#message-viewer [data-field=policy]", "dead letters to orders.dead")
	b.waitText("#message-viewer", "order-1042")
	b.waitText("#message-viewer [data-field=body]", `"total": 99.5`)
	b.waitText("#message-viewer", "priority=high")
	b.waitText("[data-stat=waiting] .value", "2") // a peek takes nothing
	b.screenshot("queue-messages")

	// Monitor: a message sent while watching appears.
	b.click(`.tabs button[data-tab="monitor"]`)
	b.click("#watch")
	b.waitText("#monitor-status", "Watching")
	if _, err := e.sdk.QM().SetChannel("orders").SetBody([]byte("hello monitor")).Send(e.ctx); err != nil {
		t.Fatal(err)
	}
	b.waitText("#monitor-feed", "hello monitor")
	b.click("#monitor-feed .feed-line")
	b.waitText("#message-viewer [data-field=body]", "hello monitor")
	b.screenshot("queue-monitor")
	b.click("#watch")

	// Dead letters: browse payments.dead and move the letter back.
	b.route("#/queue/payments.dead")
	b.click(`.tabs button[data-tab="dead"]`)
	b.waitJS("the dead-letter queue suggested", "document.querySelector('#dlq-name').value === 'payments.dead'")
	b.waitText(".messages-table", "payments")
	b.click(".messages-table tbody tr td")
	b.waitText("#message-viewer", "Dead-lettered from")
	b.screenshot("queue-dead-letters")
	b.click("#dlq-requeue")
	b.click("dialog [data-test=confirm]")
	b.waitText("#toasts", "Moved 1 message back: 1 to payments")
	b.waitText(".split", "payments.dead is empty")

	// dashboard.Events store: replay from the first event, then from sequence 2.
	b.route("#/pubsub/events_store/audit")
	b.setValue("#tail-start", "first")
	b.click("#tail")
	b.waitJS("three replayed events", "document.querySelectorAll('#tail-feed .feed-line').length === 3")
	for i, want := range []string{"order 1041 created", "order 1041 paid", "order 1042 created"} {
		sel := fmt.Sprintf("#tail-feed .feed-line[data-seq=%q]", fmt.Sprint(i+1))
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("event %d shows %q, want %q", i+1, got, want)
		}
	}
	// Published while tailing: it arrives live as sequence 4.
	b.setValue("#publish-form textarea[name=body]", "order 1043 created")
	b.click("#publish")
	b.waitText(`#tail-feed .feed-line[data-seq="4"]`, "order 1043 created")
	b.click(`#tail-feed .feed-line[data-seq="2"]`)
	b.waitText("#message-viewer", "source=shop")
	b.screenshot("events-store")
	b.click("#tail") // stop
	b.setValue("#tail-start", "sequence")
	b.setValue("#tail-sequence", "3")
	b.click("#tail")
	b.waitJS("a replay from sequence 3", `document.querySelectorAll('#tail-feed .feed-line').length === 2 &&
		document.querySelector('#tail-feed .feed-line').dataset.seq === '3'`)
	b.click("#tail")

	// Pub/Sub list.
	b.route("#/channels/events")
	b.waitText("#channels-table", "prices.live")
	b.screenshot("pubsub")

	// A query to a responder: the answer shows.
	b.route("#/cq/queries/inventory")
	b.click("#monitor")
	b.waitText(".status-line", "Monitoring")
	b.setValue("#request-form textarea[name=body]", `{"sku": "A-1042"}`)
	b.setValue("#request-form input[name=timeout]", "5")
	b.click("#send-request")
	b.waitText("#response [data-field=status]", "Executed")
	b.waitText("#response [data-field=body]", `"stock": 17`)
	b.waitText("#monitor-feed", `{"sku": "A-1042"}`)
	b.screenshot("query")

	// dashboard.Commands list and nodes.
	b.route("#/channels/commands")
	b.waitText("#channels-table", "deploy")
	b.screenshot("commands")
	b.route("#/nodes")
	b.waitText("#nodes .node-card", host)
	b.waitText("#nodes .node-card", "Goroutines")
	b.screenshot("nodes")
}

func TestBrowserQueryTimeout(t *testing.T) {
	chromiumPath(t)
	e := newEnv(t)
	b := newBrowser(t, e.web.URL)
	b.open("#/cq/commands/nobody-home")
	b.setValue("#request-form textarea[name=body]", "restart")
	b.setValue("#request-form input[name=timeout]", "0.5")
	b.click("#send-request")
	b.waitText("#response", "Timed out")
}

func TestBrowserSignIn(t *testing.T) {
	chromiumPath(t)
	e := newEnv(t, func(c *dashboard.Config) {
		c.Authenticate = func(r *http.Request) (string, error) {
			if dashboard.BearerToken(r) != "s3cret" {
				return "", errors.New("unknown token")
			}
			return "s3cret", nil
		}
	})
	b := newBrowser(t, e.web.URL)
	b.open("#/")
	b.waitJS("the sign-in dialog", "document.querySelector('#token-form') && document.querySelector('dialog').open")
	b.screenshot("sign-in")
	b.typeInto("#token-form input[name=token]", "wrong")
	b.click("#token-form button[type=submit]")
	b.waitText("#token-form .form-error", "unknown token")
	b.setValue("#token-form input[name=token]", "s3cret")
	b.click("#token-form button[type=submit]")
	b.waitText("#node-summary [data-field=host]", e.srv.Options().Host)
	b.waitJS("the sign-out button", "!document.querySelector('#signout').hidden")
	stored, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("sessionStorage.getItem('herald.token')"))
	if err != nil || stored != "s3cret" {
		t.Errorf("sessionStorage token = %q, %v", stored, err)
	}
	// Live streams carry it too: the queue list updates.
	if _, err := e.sdk.QM().SetChannel("after-sign-in").SetBody([]byte("x")).Send(e.ctx); err != nil {
		t.Fatal(err)
	}
	b.route("#/channels/queues")
	b.waitText("#channels-table", "after-sign-in")
}
