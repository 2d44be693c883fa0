import { generatedHeader, laneCommands, type CiOptions } from '../lanes.js'

export const JENKINSFILE_PATH = 'Jenkinsfile'

/**
 * Jenkins' `sh '''…'''` takes everything literally except backslashes (doubled here, so the shell
 * gets them as written); a trailing quote would run into the closing ''' and is kept apart by a space.
 */
function sh(command: string, indent: string): string {
  if (command.includes("'''")) throw new Error(`cannot quote for Jenkins: ${command}`)
  const body = command.replaceAll('\\', '\\\\')
  return `${indent}sh '''${body}${body.endsWith("'") ? ' ' : ''}'''`
}

/**
 * A Python project's Install stage makes a virtualenv (`.venv`), and every later step that runs
 * Python activates it first: each `sh` step is a shell of its own.
 */
function python(o: CiOptions): { install: string[]; inVenv: (command: string) => string } {
  if (o.tests.language !== 'python')
    return { install: [laneCommands(o).install], inVenv: (command) => command }
  const inVenv = (command: string) => `. .venv/bin/activate && ${command}`
  return {
    install: [
      'python3 -m venv .venv',
      ...(o.tests.hasPackageJson ? [laneCommands(o).install] : []),
      ...o.tests.pythonInstall!.map(inVenv),
    ],
    inVenv,
  }
}

export function jenkinsfile(o: CiOptions): string {
  const c = laneCommands(o)
  const { install, inVenv } = python(o)
  const js = o.tests.language === 'js'
  const values = (list: string[]) => list.map((v) => `'${v}'`).join(', ')
  const shards = Array.from({ length: o.shards }, (_, i) => String(i + 1))
  return `${generatedHeader('//', 'Jenkins (declarative): lint, unit, integration over PostgreSQL majors × shards, weekly comprehensive lane.', o.services, o.tests)}
// Needs Node.js ${o.node} and ${o.pm.name}${js ? '' : ', python3 and its venv module'} on the agent, and the JUnit and Workspace Cleanup plugins.

pipeline {
  agent any

  options {
    disableConcurrentBuilds()
    // The whole build, the weekly lane included; each stage has its own tighter limit.
    timeout(time: 150, unit: 'MINUTES')
    buildDiscarder(logRotator(numToKeepStr: '30'))
  }

  triggers {
    // The comprehensive lane: every category, including slow, destructive and allowed-to-fail ones.
    cron('H 3 * * 1')
  }

  environment {
    CI = 'true'
    NODE_MAJOR = '${o.node}'
  }

  stages {
    stage('Install') {
      options { timeout(time: 10, unit: 'MINUTES') }
      steps {
${sh(`node -e 'const want = process.env.NODE_MAJOR; const have = process.versions.node.split(".")[0]; if (have !== want) { console.error("Node.js " + want + " wanted, " + have + " found"); process.exit(1) }'`, '        ')}
${install.map((line) => sh(line, '        ')).join('\n')}
      }
    }

${js ? lintStage(o) : ''}${o.unit ? unitStage(o) : ''}    stage('Integration') {
      when { not { triggeredBy 'TimerTrigger' } }
      options { timeout(time: 30, unit: 'MINUTES') }
      matrix {
        axes {
          axis {
            name 'PG'
            values ${values(o.versions)}
          }
          axis {
            name 'SHARD'
            values ${values(shards)}
          }
        }
        stages {
          stage('PostgreSQL') {
            steps {
${sh(inVenv(c.integration('$PG', '$SHARD')), '              ')}
            }
          }
        }
      }
    }

    stage('Report') {
      when { not { triggeredBy 'TimerTrigger' } }
      steps {
${c.mergeJunit ? `${sh(`${c.mergeJunit} || true`, '        ')}\n` : ''}${sh(inVenv(c.mergeReports), '        ')}
      }
    }

    stage('Comprehensive') {
      when { triggeredBy 'TimerTrigger' }
      options { timeout(time: 120, unit: 'MINUTES') }
      steps {
${sh(inVenv(c.comprehensive()), '        ')}
      }
    }
  }

  post {
    always {
      junit allowEmptyResults: true, testResults: 'reports/junit-unit.xml, reports/junit-pg*.xml, pgrig-report/**/junit.xml'
      archiveArtifacts artifacts: 'reports/**, pgrig-report/**', allowEmptyArchive: true
    }
    cleanup {
      cleanWs()
    }
  }
}
`
}

function lintStage(o: CiOptions): string {
  const c = laneCommands(o)
  return `    stage('Lint') {
      when { not { triggeredBy 'TimerTrigger' } }
      steps {
${sh(c.lint, '        ')}
${sh(c.typecheck, '        ')}
      }
    }

`
}

function unitStage(o: CiOptions): string {
  return `    stage('Unit') {
      when { not { triggeredBy 'TimerTrigger' } }
      options { timeout(time: 10, unit: 'MINUTES') }
      steps {
${sh(laneCommands(o).unit, '        ')}
      }
    }

`
}
