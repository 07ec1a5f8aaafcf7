package privaterpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1 << 14,
	WriteBufferSize: 1 << 14,
	// A wallet extension or a page connects from its own origin; the
	// endpoint listens on loopback only (plinko rpc refuses other hosts).
	CheckOrigin: func(*http.Request) bool { return true },
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// wsConn is one client WebSocket: calls are answered like HTTP ones (the
// forwarded ones over HTTP to the upstream), eth_subscribe and
// eth_unsubscribe go over one upstream WebSocket whose messages
// (subscription answers and notifications) are passed back as they are.
type wsConn struct {
	s       *Server
	client  *websocket.Conn
	writeMu sync.Mutex

	upMu sync.Mutex
	up   *websocket.Conn
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered the client
	}
	conn := &wsConn{s: s, client: c}
	defer conn.close()
	c.SetReadLimit(s.cfg.MaxBody)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		go conn.answer(ctx, msg) // calls may take a lookup's time: do not hold the others
	}
}

func (c *wsConn) answer(ctx context.Context, msg []byte) {
	var req request
	if json.Unmarshal(msg, &req) == nil && (req.Method == "eth_subscribe" || req.Method == "eth_unsubscribe") {
		if classify(req.Method, req.Params) == leaky && !c.s.cfg.ForwardLeaky {
			out, _ := c.s.local(ctx, req)
			c.write(out)
			return
		}
		if err := c.toUpstream(msg); err != nil {
			c.write(errorResponse(req.ID, CodeUpstream, err.Error()))
		}
		return
	}
	if out := c.s.handle(ctx, msg); out != nil {
		c.write(out)
	}
}

func (c *wsConn) write(msg []byte) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.client.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_ = c.client.WriteMessage(websocket.TextMessage, msg)
}

// toUpstream sends a subscription call over the upstream WebSocket,
// dialled on first use, whose every message is copied back to the client.
func (c *wsConn) toUpstream(msg []byte) error {
	c.upMu.Lock()
	defer c.upMu.Unlock()
	if c.s.cfg.UpstreamWS == "" {
		return errSubscriptions
	}
	if c.up == nil {
		up, _, err := websocket.DefaultDialer.Dial(c.s.cfg.UpstreamWS, nil)
		if err != nil {
			return fmt.Errorf("upstream %s: %w", c.s.cfg.UpstreamWS, err)
		}
		c.up = up
		go func() {
			for {
				_, m, err := up.ReadMessage()
				if err != nil {
					c.client.Close() // the subscriptions are gone: let the wallet reconnect
					return
				}
				c.write(m)
			}
		}()
	}
	return c.up.WriteMessage(websocket.TextMessage, msg)
}

func (c *wsConn) close() {
	c.upMu.Lock()
	if c.up != nil {
		c.up.Close()
	}
	c.upMu.Unlock()
	c.client.Close()
}

var errSubscriptions = errors.New("subscriptions need the node's WebSocket URL: start plinko rpc with --upstream-ws ws://…")
