import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from 'chart.js'

/** Chart.js with only what the dashboard draws: bars and lines. No animation: a chart shows the figures at once. */
Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Legend, Tooltip)
Chart.defaults.animation = false
Chart.defaults.font.family = 'system-ui, sans-serif'
Chart.defaults.locale = 'de-DE'

/** Colours with enough contrast on white, the same for the same figure everywhere. */
export const COLOURS = { spent: '#1f4e79', flexibleSpent: '#5b9bd5', committed: '#c55a11', available: '#548235', allocated: '#7f7f7f' } as const

export { Chart, type ChartConfiguration }
