import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  appendPoint,
  boundsOf,
  clientToViewBox,
  currentPosition,
  fitProjection,
  parseBoundary,
  parseRoute,
  polygonsPath,
  scaleBar,
  type LonLat,
} from '../src/geo'

const square = [[[119.64, 29.08], [119.66, 29.08], [119.66, 29.1], [119.64, 29.1], [119.64, 29.08]]]

describe('boundaries', () => {
  it('reads Polygon, MultiPolygon and Features of them', () => {
    expect(parseBoundary(JSON.stringify({ type: 'Polygon', coordinates: square }))).toHaveLength(1)
    const multi = { type: 'MultiPolygon', coordinates: [square, square] }
    expect(parseBoundary(JSON.stringify(multi))).toHaveLength(2)
    const feature = { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: square } }
    expect(parseBoundary(JSON.stringify(feature))[0][0][1]).toEqual([119.66, 29.08])
  })

  it('reads nothing from nothing, or from what is not a boundary', () => {
    expect(parseBoundary(null)).toEqual([])
    expect(parseBoundary('{not json')).toEqual([])
    expect(parseBoundary(JSON.stringify({ type: 'Point', coordinates: [1, 2] }))).toEqual([])
  })
})

describe('the projection', () => {
  const W = 1000
  const H = 640

  it('fits the boundary inside the viewBox with its padding, centred', () => {
    const polygons = parseBoundary(JSON.stringify({ type: 'Polygon', coordinates: square }))
    const p = fitProjection(boundsOf(polygons[0][0])!, W, H, 20)
    const xy = polygons[0][0].map((pt) => p.project(pt))
    const xs = xy.map(([x]) => x)
    const ys = xy.map(([, y]) => y)
    for (const x of xs) expect(x).toBeGreaterThanOrEqual(20 - 1e-9)
    for (const x of xs) expect(x).toBeLessThanOrEqual(W - 20 + 1e-9)
    for (const y of ys) expect(y).toBeGreaterThanOrEqual(20 - 1e-9)
    for (const y of ys) expect(y).toBeLessThanOrEqual(H - 20 + 1e-9)
    // Taller than wide on the ground: the height is what limits, and it fills it.
    expect(Math.max(...ys) - Math.min(...ys)).toBeCloseTo(H - 40, 6)
    // North is up.
    expect(p.project([119.65, 29.1])[1]).toBeLessThan(p.project([119.65, 29.08])[1])
    // Centred horizontally.
    expect((Math.max(...xs) + Math.min(...xs)) / 2).toBeCloseTo(W / 2, 6)
    expect(polygonsPath(polygons, p)).toMatch(/^M[\d.]+ [\d.]+ L.* Z$/)
  })

  it('shrinks longitudes by the cosine of the latitude', () => {
    // 0.01° by 0.01° at 60° north is half as wide as it is tall on the ground.
    const p = fitProjection({ minLon: 10, maxLon: 10.01, minLat: 59.995, maxLat: 60.005 }, 1000, 1000, 0)
    const [x0, y0] = p.project([10, 59.995])
    const [x1, y1] = p.project([10.01, 60.005])
    expect((x1 - x0) / (y0 - y1)).toBeCloseTo(Math.cos((60 * Math.PI) / 180), 6)
  })

  it('turns taps back into the lon/lat they were drawn from', () => {
    const p = fitProjection({ minLon: 119.64, maxLon: 119.66, minLat: 29.08, maxLat: 29.1 }, W, H)
    const points: LonLat[] = [
      [119.64, 29.08],
      [119.6512345, 29.0934567],
      [119.66, 29.1],
    ]
    for (const pt of points) {
      const back = p.invert(p.project(pt))
      expect(back[0]).toBeCloseTo(pt[0], 9)
      expect(back[1]).toBeCloseTo(pt[1], 9)
    }
  })

  it('finds the viewBox point under a tap on a letterboxed SVG', () => {
    // A 1000×640 viewBox drawn in a 500×500 box: scaled by 0.5, 90 px bands above and below.
    const rect = { left: 10, top: 20, width: 500, height: 500 }
    expect(clientToViewBox(rect, { width: 1000, height: 640 }, 10, 110)).toEqual([0, 0])
    expect(clientToViewBox(rect, { width: 1000, height: 640 }, 510, 430)).toEqual([1000, 640])
    expect(clientToViewBox(rect, { width: 1000, height: 640 }, 260, 270)).toEqual([500, 320])
  })

  it('round-trips a tap: screen → viewBox → lon/lat → viewBox → screen', () => {
    const p = fitProjection({ minLon: 119.64, maxLon: 119.66, minLat: 29.08, maxLat: 29.1 }, W, H)
    const rect = { left: 0, top: 0, width: 800, height: 512 }
    const xy = clientToViewBox(rect, { width: W, height: H }, 321, 123)
    const lonlat = p.invert(xy)
    const [x, y] = p.project(lonlat)
    expect(x * 0.8).toBeCloseTo(321, 6)
    expect(y * 0.8).toBeCloseTo(123, 6)
  })

  it('gives a single point a frame of its own', () => {
    const p = fitProjection(boundsOf([[119.65, 29.09]])!, W, H)
    const [x, y] = p.project([119.65, 29.09])
    expect(x).toBeCloseTo(W / 2)
    expect(y).toBeCloseTo(H / 2)
    expect(Number.isFinite(p.metresPerUnit)).toBe(true)
  })

  it('picks a round scale bar', () => {
    const p = fitProjection({ minLon: 119.64, maxLon: 119.66, minLat: 29.08, maxLat: 29.1 }, W, H)
    const [metres, units] = scaleBar(p)
    expect([10, 20, 50, 100, 200, 500, 1000, 2000, 5000]).toContain(metres)
    expect(units * p.metresPerUnit).toBeCloseTo(metres, 6)
  })
})

describe('the route', () => {
  it('starts a LineString from nothing', () => {
    const text = appendPoint(undefined, [119.6512345678, 29.0812345678])
    expect(JSON.parse(text)).toEqual({ type: 'LineString', coordinates: [[119.651235, 29.081235]] })
  })

  it('appends to the end, keeping what was there', () => {
    let text = appendPoint('', [119.65, 29.08])
    text = appendPoint(text, [119.66, 29.09])
    text = appendPoint(text, [119.67, 29.1])
    expect(parseRoute(text)).toEqual([
      [119.65, 29.08],
      [119.66, 29.09],
      [119.67, 29.1],
    ])
  })

  it('ignores what is not a LineString', () => {
    expect(parseRoute('garbage')).toEqual([])
    expect(parseRoute(JSON.stringify({ type: 'Polygon', coordinates: [] }))).toEqual([])
    expect(parseRoute(42)).toEqual([])
    expect(parseRoute(appendPoint('garbage', [1, 2]))).toEqual([[1, 2]])
  })
})

describe('where the tablet is', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('answers lon/lat from the geolocation API', async () => {
    const getCurrentPosition = vi.fn((ok: PositionCallback, _err: unknown, options: PositionOptions) => {
      expect(options.timeout).toBe(5000)
      ok({ coords: { latitude: 29.08, longitude: 119.65 } } as GeolocationPosition)
    })
    vi.stubGlobal('navigator', { geolocation: { getCurrentPosition } })
    await expect(currentPosition()).resolves.toEqual([119.65, 29.08])
  })

  it('fails when there is no geolocation, or it never answers', async () => {
    vi.stubGlobal('navigator', {})
    await expect(currentPosition()).rejects.toThrow()
    vi.useFakeTimers()
    vi.stubGlobal('navigator', { geolocation: { getCurrentPosition: vi.fn() } })
    const waiting = currentPosition(5000)
    const failed = expect(waiting).rejects.toThrow(/timed out/)
    vi.advanceTimersByTime(6000)
    await failed
  })
})
