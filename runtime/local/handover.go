package local

import (
	"net"
	"sync"
)

// sharedListener keeps a server's socket open for the system's lifetime
// and hands each connection to whichever instance of the server asks
// first. A restarted instance takes over without the port ever closing,
// and in a rolling restart the new instance accepts beside the old one
// before the old one stops: what a Service in front of a Deployment's
// replicas gives in Kubernetes. Nothing queued is lost when an instance
// stops: a connection not yet handed out waits for the next one.
type sharedListener struct {
	ln       net.Listener
	conns    chan net.Conn
	stop     chan struct{} // closed by Close
	stopOnce sync.Once
	done     chan struct{} // closed when the accept loop ended
	err      error         // why, set before done closes
}

func newSharedListener(ln net.Listener) *sharedListener {
	s := &sharedListener{ln: ln, conns: make(chan net.Conn), stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sharedListener) loop() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.err = err
			return
		}
		select {
		case s.conns <- c:
		case <-s.stop:
			c.Close()
			s.err = net.ErrClosed
			return
		}
	}
}

// Close closes the socket; instances' Accept then fail.
func (s *sharedListener) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	return s.ln.Close()
}

// view is one instance's listener: closing it stops that instance
// accepting, not the socket.
func (s *sharedListener) view() net.Listener {
	return &listenerView{s: s, closed: make(chan struct{})}
}

type listenerView struct {
	s      *sharedListener
	once   sync.Once
	closed chan struct{}
}

func (v *listenerView) Accept() (net.Conn, error) {
	select {
	case <-v.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-v.s.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.s.done:
		return nil, v.s.err
	}
}

func (v *listenerView) Close() error {
	v.once.Do(func() { close(v.closed) })
	return nil
}

func (v *listenerView) Addr() net.Addr { return v.s.ln.Addr() }
