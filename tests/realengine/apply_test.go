package realengine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// object is one Kubernetes manifest, decoded.
type object struct {
	File string         // where it came from, for messages
	Body map[string]any // the whole manifest
}

func (o object) str(path ...string) string {
	var cur any = o.Body
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

func (o object) APIVersion() string { return o.str("apiVersion") }
func (o object) Kind() string       { return o.str("kind") }
func (o object) Name() string       { return o.str("metadata", "name") }
func (o object) Namespace() string  { return o.str("metadata", "namespace") }

func (o object) String() string {
	if ns := o.Namespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s (%s)", o.Kind(), ns, o.Name(), filepath.Base(o.File))
	}
	return fmt.Sprintf("%s %s (%s)", o.Kind(), o.Name(), filepath.Base(o.File))
}

// readManifests decodes every YAML document under dir, in path order.
func readManifests(dir string) ([]object, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing manifests in %s: %w", dir, err)
	}
	sort.Strings(paths)
	var objs []object
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var body map[string]any
			err := dec.Decode(&body)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("decoding %s: %w", path, err)
			}
			if body == nil {
				continue // empty document
			}
			objs = append(objs, object{File: path, Body: body})
		}
	}
	return objs, nil
}

// apiResource is what discovery says about one kind.
type apiResource struct {
	Name       string // plural, as in the URL
	Namespaced bool
}

// discover maps "apiVersion/Kind" to its resource, from the API server's own
// discovery documents (so CRDs applied earlier are included).
func (c *cluster) discover(ctx context.Context) (map[string]apiResource, error) {
	out := map[string]apiResource{}
	add := func(path, groupVersion string) error {
		body, status, err := c.do(ctx, http.MethodGet, path, "", nil)
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("discovery %s: status %d: %v %s", path, status, err, body)
		}
		var list struct {
			Resources []struct {
				Name       string `json:"name"`
				Kind       string `json:"kind"`
				Namespaced bool   `json:"namespaced"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("decoding discovery %s: %w", path, err)
		}
		for _, r := range list.Resources {
			if !strings.Contains(r.Name, "/") { // skip subresources
				out[groupVersion+"/"+r.Kind] = apiResource{Name: r.Name, Namespaced: r.Namespaced}
			}
		}
		return nil
	}
	if err := add("/api/v1", "v1"); err != nil {
		return nil, err
	}
	body, status, err := c.do(ctx, http.MethodGet, "/apis", "", nil)
	if err != nil || status != http.StatusOK {
		return nil, fmt.Errorf("discovery /apis: status %d: %v", status, err)
	}
	var groups struct {
		Groups []struct {
			Versions []struct {
				GroupVersion string `json:"groupVersion"`
			} `json:"versions"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(body, &groups); err != nil {
		return nil, fmt.Errorf("decoding /apis: %w", err)
	}
	for _, g := range groups.Groups {
		for _, v := range g.Versions {
			if err := add("/apis/"+v.GroupVersion, v.GroupVersion); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// apply sends obj as a server-side apply. With dryRun the API server runs
// defaulting, validation and admission and then stores nothing. The error
// carries the API server's own message.
func (c *cluster) apply(ctx context.Context, kinds map[string]apiResource, obj object, dryRun bool) error {
	res, ok := kinds[obj.APIVersion()+"/"+obj.Kind()]
	if !ok {
		return fmt.Errorf("%s: the API server does not serve %s %s", obj, obj.APIVersion(), obj.Kind())
	}
	if obj.Name() == "" {
		return fmt.Errorf("%s: no metadata.name", obj)
	}
	path := "/apis/" + obj.APIVersion()
	if obj.APIVersion() == "v1" {
		path = "/api/v1"
	}
	if res.Namespaced {
		ns := obj.Namespace()
		if ns == "" {
			ns = "default"
		}
		path += "/namespaces/" + url.PathEscape(ns)
	}
	path += "/" + res.Name + "/" + url.PathEscape(obj.Name())
	q := url.Values{"fieldManager": {"plinko-realengine-test"}, "force": {"true"}}
	if dryRun {
		q.Set("dryRun", "All")
	}
	body, err := json.Marshal(obj.Body) // JSON is YAML, which apply-patch+yaml takes
	if err != nil {
		return fmt.Errorf("%s: encoding: %w", obj, err)
	}
	resp, status, err := c.do(ctx, http.MethodPatch, path+"?"+q.Encode(), "application/apply-patch+yaml", body)
	if err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	if status/100 != 2 {
		var st struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		}
		_ = json.Unmarshal(resp, &st)
		if st.Message == "" {
			st.Message = string(resp)
		}
		return fmt.Errorf("%s rejected by the API server (%d %s): %s", obj, status, st.Reason, st.Message)
	}
	return nil
}

// applyAll applies CustomResourceDefinitions and Namespaces for real (the
// rest cannot be validated without them) and every other object with a
// server-side dry run. It returns how many objects of each kind were dry-run
// and every rejection.
func (c *cluster) applyAll(ctx context.Context, objs []object) (map[string]int, []error) {
	var errs []error
	kinds, err := c.discover(ctx)
	if err != nil {
		return nil, []error{err}
	}
	stored := false
	for _, o := range objs {
		if o.Kind() == "CustomResourceDefinition" {
			if err := c.apply(ctx, kinds, o, false); err != nil {
				errs = append(errs, err)
			}
			stored = true
		}
	}
	if stored {
		// Newly stored CRDs show up in discovery once established.
		if kinds, err = c.discoverCRDs(ctx, objs); err != nil {
			return nil, append(errs, err)
		}
	}
	counts := map[string]int{}
	for _, o := range objs {
		if o.Kind() == "Namespace" {
			if err := c.apply(ctx, kinds, o, false); err != nil {
				errs = append(errs, err)
			}
			counts[o.Kind()]++
		}
	}
	for _, o := range objs {
		if o.Kind() == "Namespace" || o.Kind() == "CustomResourceDefinition" {
			continue
		}
		if err := c.apply(ctx, kinds, o, true); err != nil {
			errs = append(errs, err)
			continue
		}
		counts[o.Kind()]++
	}
	return counts, errs
}

// discoverCRDs polls discovery until every kind the CRDs in objs define is
// served.
func (c *cluster) discoverCRDs(ctx context.Context, objs []object) (map[string]apiResource, error) {
	var want []string
	for _, o := range objs {
		if o.Kind() != "CustomResourceDefinition" {
			continue
		}
		spec, _ := o.Body["spec"].(map[string]any)
		group, _ := spec["group"].(string)
		names, _ := spec["names"].(map[string]any)
		kind, _ := names["kind"].(string)
		versions, _ := spec["versions"].([]any)
		for _, v := range versions {
			vm, _ := v.(map[string]any)
			if name, _ := vm["name"].(string); name != "" && vm["served"] == true {
				want = append(want, group+"/"+name+"/"+kind)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		kinds, err := c.discover(ctx)
		if err != nil {
			return nil, err
		}
		var missing []string
		for _, w := range want {
			if _, ok := kinds[w]; !ok {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return kinds, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("custom resources not served 30s after their CRDs were applied: %v", missing)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
