package console

import (
	"context"
	"net/http"
	"time"
)

// Check is a condition the people relying on firegrid must know about
// while it does not hold: the journal that cannot write, the database that
// does not answer. Err returns why it does not hold; nil while it does.
type Check struct {
	Name string
	Err  func(context.Context) error
}

// Problem is a check that does not hold, as /healthz and the console's
// banner say it.
type Problem struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

// Health answers /healthz: 200 and {"status":"ok"} while every check
// holds, else 503 with {"status":"degraded","problems":[...]}. A check
// gets two seconds.
func Health(role string, checks []Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{"status": "ok"}
		if role != "" {
			body["role"] = role
		}
		problems := Problems(r.Context(), checks)
		code := http.StatusOK
		if len(problems) > 0 {
			body["status"], body["problems"] = "degraded", problems
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, body)
	}
}

// Problems runs the checks and returns those that do not hold.
func Problems(ctx context.Context, checks []Check) []Problem {
	var out []Problem
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.Err(cctx)
		cancel()
		if err != nil {
			out = append(out, Problem{Check: c.Name, Detail: err.Error()})
		}
	}
	return out
}
