package simulator

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/firegrid/firegrid/contract"
)

// Credential is one device's MQTT user name and secret, a row of a
// credentials file (id,username,password), as `firegrid devices
// credentials issue` and `serve --demo` write them.
type Credential struct {
	ID       string
	Username string
	Password string
}

// Credentials are the devices' credentials by device id.
type Credentials map[string]Credential

// CredentialColumns is the header of a credentials file.
var CredentialColumns = []string{"id", "username", "password"}

// ReadCredentials reads a credentials file: a header naming the columns
// id, username and password (in any order), then one row per device.
func ReadCredentials(name string, r io.Reader) (Credentials, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: empty; want a header id,username,password", name)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, c := range CredentialColumns {
		if _, ok := col[c]; !ok {
			return nil, fmt.Errorf("%s:1: no column %q (want id,username,password)", name, c)
		}
	}
	out := Credentials{}
	for i, row := range rows[1:] {
		get := func(c string) string {
			if j := col[c]; j < len(row) {
				return row[j]
			}
			return ""
		}
		c := Credential{ID: get("id"), Username: get("username"), Password: get("password")}
		if c.ID == "" || c.Username == "" || c.Password == "" {
			return nil, fmt.Errorf("%s:%d: want an id, a username and a password", name, i+2)
		}
		if _, dup := out[c.ID]; dup {
			return nil, fmt.Errorf("%s:%d: device %s twice", name, i+2, c.ID)
		}
		out[c.ID] = c
	}
	return out, nil
}

// LoadCredentials reads the credentials file at path.
func LoadCredentials(path string) (Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadCredentials(path, f)
}

// WriteCredentials writes a credentials file, rows sorted by id.
func WriteCredentials(w io.Writer, creds Credentials) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CredentialColumns); err != nil {
		return err
	}
	ids := make([]string, 0, len(creds))
	for id := range creds {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := creds[id]
		if err := cw.Write([]string{c.ID, c.Username, c.Password}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// MQTTOption changes how the simulator's shared connections (a publisher,
// a watcher, a recorder) connect.
type MQTTOption func(*mqtt.ClientOptions)

// WithLogin connects with a user name and secret: an account of the
// broker (an observer's to watch or record).
func WithLogin(username, password string) MQTTOption {
	return func(o *mqtt.ClientOptions) {
		if username != "" {
			o.SetUsername(username).SetPassword(password)
		}
	}
}

// DeviceConnections are one MQTT connection per device, each with the
// device's own credentials, as real devices connect: a broker that checks
// who may publish where sees each device as itself. Publish and
// PublishAsync pick the connection from the topic's device id.
type DeviceConnections struct {
	clients map[string]mqtt.Client
	once    sync.Once
}

// DeviceOptions adjust DialDevices.
type DeviceOptions struct {
	// InFlight sizes each connection's queue of unacknowledged messages;
	// 0 means paho's default.
	InFlight int
	// OnCommand, when set, subscribes every device to its own cmd topic
	// (kinds gives each device's kind) and is called for each command,
	// from paho's goroutines.
	OnCommand func(topic string, qos byte, retained bool, payload []byte)
	Kinds     map[string]contract.Kind
	// Parallel connections being opened at once; 0 means 32.
	Parallel int
}

// DialDevices opens a connection for each of ids with its credentials and
// returns once all are up, or with the first error (the others closed).
func DialDevices(ctx context.Context, brokerURL string, creds Credentials, ids []string, o DeviceOptions) (*DeviceConnections, error) {
	if err := checkBrokerURL(brokerURL); err != nil {
		return nil, err
	}
	if o.Parallel <= 0 {
		o.Parallel = 32
	}
	var missing []string
	for _, id := range ids {
		if _, ok := creds[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("no credentials for %d devices (%s...): issue them with firegrid devices credentials issue", len(missing), missing[0])
	}
	d := &DeviceConnections{clients: make(map[string]mqtt.Client, len(ids))}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, o.Parallel)
	)
	for _, id := range ids {
		c := creds[id]
		opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(c.Username).SetUsername(c.Username).SetPassword(c.Password).
			SetCleanSession(true).SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).SetMaxReconnectInterval(5 * time.Second).
			SetKeepAlive(60 * time.Second).SetOrderMatters(false).SetWriteTimeout(10 * time.Second)
		if o.InFlight > 0 {
			opts.SetMessageChannelDepth(uint(o.InFlight))
		}
		if o.OnCommand != nil {
			if kind, ok := o.Kinds[id]; ok {
				topic := contract.CommandTopic(kind, id)
				handler := func(_ mqtt.Client, m mqtt.Message) { o.OnCommand(m.Topic(), m.Qos(), m.Retained(), m.Payload()) }
				opts.SetOnConnectHandler(func(cl mqtt.Client) { cl.Subscribe(topic, 1, handler).WaitTimeout(10 * time.Second) })
			}
		}
		client := mqtt.NewClient(opts)
		d.clients[id] = client
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := awaitToken(ctx, client.Connect()); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("device %s: connect to %s: %w", id, brokerURL, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if first != nil {
		d.Close()
		return nil, first
	}
	return d, nil
}

// Len is the number of connections.
func (d *DeviceConnections) Len() int { return len(d.clients) }

func (d *DeviceConnections) client(topic string) (mqtt.Client, error) {
	_, id, _, err := contract.ParseUplinkTopic(topic)
	if err != nil {
		return nil, err
	}
	c, ok := d.clients[id]
	if !ok {
		return nil, fmt.Errorf("publish %s: device %s has no connection (no credentials)", topic, id)
	}
	return c, nil
}

// Publish sends one message on its device's connection and waits for the
// broker to take it.
func (d *DeviceConnections) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	c, err := d.client(topic)
	if err != nil {
		return err
	}
	tok := c.Publish(topic, qos, retained, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}

// PublishAsync hands the message to its device's connection and calls
// done from a goroutine once the broker has it.
func (d *DeviceConnections) PublishAsync(topic string, qos byte, payload []byte, done func(error)) {
	c, err := d.client(topic)
	if err != nil {
		go done(err)
		return
	}
	tok := c.Publish(topic, qos, false, slices.Clone(payload))
	go func() {
		if !tok.WaitTimeout(30 * time.Second) {
			done(errors.New("no acknowledgement within 30s"))
			return
		}
		done(tok.Error())
	}()
}

// Close disconnects every device.
func (d *DeviceConnections) Close() error {
	d.once.Do(func() {
		var wg sync.WaitGroup
		for _, c := range d.clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Disconnect(250)
			}()
		}
		wg.Wait()
	})
	return nil
}
